"""Old path of the in-process work queue; the module is :mod:`tpf.transports.work.inproc`."""

from tpf.transports.work.inproc import InProcessWorkQueue as InProcessWorkQueue
