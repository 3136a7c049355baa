// Live updates from GET {cp}/events. EventSource cannot send an Authorization header and the
// token must not go into a URL, so the stream is read with fetch and parsed here (the
// text/event-stream format: "event:"/"data:" lines, a blank line ends an event, ":" comments).

import { cpBase, session } from "./api.js";

export class Live {
  constructor(onEvent, onState) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.controller = null;
    this.retryMs = 3000;
    this.timer = null;
  }

  start() {
    this.stop();
    this.controller = new AbortController();
    this.run(this.controller.signal);
  }

  stop() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.controller) this.controller.abort();
    this.controller = null;
  }

  async run(signal) {
    this.onState("connecting");
    try {
      if (!session().tenant || !session().cp) throw new Error("events: logged out");
      const response = await fetch(`${cpBase()}/events`, {
        headers: { Authorization: `Bearer ${session().cp}`, Accept: "text/event-stream" },
        cache: "no-store",
        credentials: "omit",
        signal,
      });
      if (!response.ok || !response.body) throw new Error(`events: HTTP ${response.status}`);
      this.onState("live");
      // What happened while we were away is not in the stream: the pages re-read.
      this.onEvent("resync", {});
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          this.dispatch(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (error) {
      if (signal.aborted) return;
    }
    if (signal.aborted) return;
    this.onState("reconnecting");
    this.timer = setTimeout(() => {
      if (!signal.aborted) this.run(signal);
    }, this.retryMs);
  }

  dispatch(block) {
    let kind = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const name = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (name === "event") kind = value;
      else if (name === "data") data.push(value);
      else if (name === "retry" && /^\d+$/.test(value)) this.retryMs = Number(value);
    }
    if (!data.length) return;
    try {
      this.onEvent(kind, JSON.parse(data.join("\n")));
    } catch {
      /* not JSON: not one of ours */
    }
  }
}
