"""The csv-payments pipeline (spec §11.2), with the original's step names and wire shapes.

0 ``Process Csv Payments Input`` reads a CSV of ``ID,Recipient,Amount,Currency`` into one
payment record per row (an expansion: the rows are read lazily, a page at a time) → 1 ``Await
Payment Provider`` asks the payment provider about each record (itemized: one interaction per
record, five minutes each, keyed by the file and the record's fields) → 2 ``Process Approved
Payment Status`` / 3 ``Process Unapproved Payment Status`` (a branch on the provider's answer,
``{"approved": {...}}`` or ``{"unapproved": {...}}``) → 4 ``Finalize Payment Output`` gathers
the records' outcomes in file order into ``<input>.out``, one row per record, written before
the execution succeeds (:func:`tpf.authoring.outputs.publish_rows`: atomic, so a re-run rewrites the
same file). An item whose provider never answers counts as unapproved (``timeout``).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator

import msgspec

from tpf.authoring.outputs import publish_rows
from tpf.pipeline import Pipeline, StepContext

PIPELINE_ID = "org.pipelineframework.csv"
TENANT = "csv-demo"
AWAIT_STEP_ID = "Await Payment Provider"
_DOMAIN = "org.pipelineframework.csv.domain."
OUTPUT_HEADER = ("ID", "Recipient", "Amount", "Currency", "Status", "Reference")


class _Dto(msgspec.Struct, frozen=True, rename="camel"):
    """camelCase on the wire, like the original's Jackson DTOs."""


class CsvPaymentsInputFile(_Dto, frozen=True, kw_only=True):
    filepath: str
    csv_folder_path: str | None = None


class PaymentRecord(_Dto, frozen=True, kw_only=True):
    csv_payments_input_file_path: str
    csv_id: str
    recipient: str
    amount: str
    currency: str


class ApprovedPayment(_Dto, frozen=True, kw_only=True):
    csv_id: str
    recipient: str
    amount: str
    currency: str
    reference: str


class UnapprovedPayment(_Dto, frozen=True, kw_only=True):
    csv_id: str | None = None
    recipient: str | None = None
    amount: str | None = None
    currency: str | None = None
    reason: str


class PaymentStatus(_Dto, frozen=True, kw_only=True):
    """The provider's answer: exactly one of the two is set."""

    approved: ApprovedPayment | None = None
    unapproved: UnapprovedPayment | None = None


class PaymentOutputBranch(_Dto, frozen=True, kw_only=True):
    csv_id: str
    recipient: str
    amount: str
    currency: str
    status: str
    reference: str


class PaymentOutput(_Dto, frozen=True, kw_only=True):
    output_path: str
    rows: int
    approved: int
    unapproved: int


TYPE_IDS = {
    CsvPaymentsInputFile: _DOMAIN + "CsvPaymentsInputFile",
    PaymentRecord: _DOMAIN + "PaymentRecord",
    PaymentStatus: _DOMAIN + "PaymentStatus",
    ApprovedPayment: _DOMAIN + "AckPaymentSent",
    UnapprovedPayment: _DOMAIN + "PaymentNotSent",
    PaymentOutputBranch: _DOMAIN + "PaymentOutputBranch",
    PaymentOutput: _DOMAIN + "PaymentOutput",
}


def output_path(input_path: str) -> str:
    return input_path + ".out"


def build_pipeline() -> Pipeline:
    pipeline = Pipeline(PIPELINE_ID, type_ids=TYPE_IDS)

    @pipeline.step("Process Csv Payments Input", cardinality="ONE_TO_MANY")
    def read_input(source: CsvPaymentsInputFile) -> Iterator[PaymentRecord]:
        path = source.filepath
        if source.csv_folder_path and not os.path.isabs(path):
            path = os.path.join(source.csv_folder_path, path)
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                yield PaymentRecord(
                    csv_payments_input_file_path=source.filepath,
                    csv_id=row["ID"].strip(),
                    recipient=row["Recipient"].strip(),
                    amount=row["Amount"].strip(),
                    currency=row["Currency"].strip(),
                )

    pipeline.await_step(
        AWAIT_STEP_ID,
        step_id=AWAIT_STEP_ID,
        output=PaymentStatus,
        timeout="PT5M",
        key_fields=["csvPaymentsInputFilePath", "csvId", "recipient", "amount", "currency"],
        timeout_response=PaymentStatus(unapproved=UnapprovedPayment(reason="timeout")),
    )

    @pipeline.step("Process Approved Payment Status")
    async def approved(payment: ApprovedPayment) -> PaymentOutputBranch:
        return PaymentOutputBranch(
            csv_id=payment.csv_id,
            recipient=payment.recipient,
            amount=payment.amount,
            currency=payment.currency,
            status="APPROVED",
            reference=payment.reference,
        )

    @pipeline.step("Process Unapproved Payment Status")
    async def unapproved(payment: UnapprovedPayment) -> PaymentOutputBranch:
        return PaymentOutputBranch(
            csv_id=payment.csv_id or "",
            recipient=payment.recipient or "",
            amount=payment.amount or "",
            currency=payment.currency or "",
            status="UNAPPROVED",
            reference=payment.reason,
        )

    @pipeline.step("Finalize Payment Output", cardinality="MANY_TO_ONE")
    def finalize(outcomes: Iterator[PaymentOutputBranch], ctx: StepContext) -> PaymentOutput:
        source = ctx.input
        assert isinstance(source, CsvPaymentsInputFile)
        counts = {"APPROVED": 0, "UNAPPROVED": 0}

        def rows() -> Iterator[tuple[str, ...]]:
            yield OUTPUT_HEADER
            for o in outcomes:
                counts[o.status] = counts.get(o.status, 0) + 1
                yield (o.csv_id, o.recipient, o.amount, o.currency, o.status, o.reference)

        target = output_path(source.filepath)
        written = publish_rows(target, rows())
        return PaymentOutput(
            output_path=target,
            rows=written - 1,
            approved=counts["APPROVED"],
            unapproved=counts["UNAPPROVED"],
        )

    return pipeline


pipeline = build_pipeline()
