"""Calendly invitees arrive with their scheduled event embedded or with only its URI; both must give one answer."""

from __future__ import annotations

import itertools
import json
from datetime import date

import pytest

from appointment_pipeline.demo import write_landing, write_leads
from appointment_pipeline.domain.parsing import CALENDLY, Reject, parse_calendly
from appointment_pipeline.domain.statuses import LineReason
from appointment_pipeline.io.warehouse import Warehouse
from pipeline import Inputs, empty_days_config, run_pipeline
from scenarios.builders import calendly, calendly_event, calendly_other_webhook, invitee_uri

DAY = date(2025, 1, 2)
COMBOS = [
    (invitee, rescheduled, no_show, event, canceler)
    for invitee, rescheduled, no_show, event, canceler in itertools.product(
        ("active", "canceled"), (False, True), (False, True), ("active", "canceled"), ("host", "invitee")
    )
    if not (rescheduled and invitee == "active")
]


def combo_lines(index: int, combo: tuple, *, embedded: bool) -> list[str]:
    invitee, rescheduled, no_show, event, canceler = combo
    name = f"{'EMB' if embedded else 'SEP'}{index}"
    invitee_line = calendly(
        name, "I", email=f"{name.lower()}@example.com", start="2025-01-20 15:00", created="2025-01-01 10:00",
        updated="2025-01-01 11:00", status=invitee, event_status=event, rescheduled=rescheduled, no_show=no_show,
        canceler=canceler if invitee == "canceled" else None, embed_event=embedded,
    )
    if embedded:
        event_obj = json.loads(invitee_line)["scheduled_event"]
        if event == "canceled":
            event_obj["cancellation"]["canceler_type"] = canceler
        obj = json.loads(invitee_line)
        obj["scheduled_event"] = event_obj
        return [json.dumps(obj)]
    return [invitee_line, calendly_event(name, start="2025-01-20 15:00", updated="2025-01-01 11:00", status=event,
                                         canceler=canceler if event == "canceled" else None)]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Warehouse:
    root = tmp_path_factory.mktemp("calendly_shapes")
    inputs = Inputs(source_db_url=f"sqlite:///{root / 'app.sqlite'}", landing_dir=root / "landing")
    leads, lines = [], []
    for index, combo in enumerate(COMBOS):
        for embedded in (True, False):
            name = f"{'EMB' if embedded else 'SEP'}{index}"
            leads.append({"id": f"lead_{name}", "email": f"{name.lower()}@example.com", "createdAt": "2024-12-01T00:00:00+00:00",
                          "updatedAt": "2024-12-01T00:00:00+00:00"})
            lines += combo_lines(index, combo, embedded=embedded)
    write_leads(inputs.source_db_url, leads)
    write_landing(inputs.landing_dir, {f"calendly/{DAY}/shapes.jsonl": lines})
    url = f"duckdb:///{root / 'wh.duckdb'}"
    run_pipeline(url, inputs, DAY, DAY, run_config=empty_days_config(inputs.landing_dir, DAY, DAY))
    return Warehouse(url)


def test_an_invitee_without_its_event_ends_like_one_with_the_event_embedded(built):
    """Every status combination: the event described by a separate record gives the embedded event's answer."""
    rows = {
        uri: row
        for uri, *row in built.query(
            "select calendly_invitee_uri, status, cancel_reason, start_at, end_at, calendly_scheduled_event_uri "
            "from appointments"
        )
    }
    for index, combo in enumerate(COMBOS):
        embedded = rows[invitee_uri(f"EMB{index}", "I")]
        separate = rows[invitee_uri(f"SEP{index}", "I")]
        assert embedded[:4] == separate[:4], f"{combo}: embedded {embedded} != separate {separate}"
    statuses = {row[0] for row in rows.values()}
    assert statuses == {"CONFIRMED", "CANCELED", "RESCHEDULED", "NO_SHOW"}


@pytest.mark.parametrize(
    ("wrap", "delivery"),
    [
        (lambda inv: inv, "snapshot"),
        (lambda inv: {"resource": inv}, "resource"),
        (lambda inv: {"event": "invitee.created", "created_at": "2025-01-01T10:00:00.000000Z", "payload": inv},
         "invitee.created"),
    ],
    ids=["bare", "get-body", "webhook"],
)
def test_every_wrapper_of_an_invitee_without_its_event_is_an_observation(wrap, delivery):
    invitee = json.loads(calendly("E1", "I1", email="a@example.com", start="2025-01-20 15:00", created="2025-01-01 10:00",
                                  updated="2025-01-01 10:00", embed_event=False))
    row = parse_calendly(wrap(invitee), "key")
    assert row["record_type"] == "invitee"
    assert row["delivery"] == delivery and row["webhook"] is (delivery == "invitee.created")
    assert row["status"] == "CONFIRMED"
    assert row.get("start_at") is None and row["scheduled_event_uri"] == invitee["event"]
    assert "email" not in row and row["email_hash"]


@pytest.mark.parametrize(
    "name",
    ["routing_form_submission.created", "event_type.updated", "meeting_recap.created", "contact.deleted", "not a name!"],
)
def test_a_webhook_about_something_else_is_not_an_appointment(name):
    line = calendly_other_webhook(name, {"uri": "https://api.calendly.com/routing_form_submissions/R1",
                                         "questions_and_answers": [{"question": "Email", "answer": "x@example.com"}]})
    with pytest.raises(Reject) as caught:
        parse_calendly(json.loads(line), "key")
    assert caught.value.reason is LineReason.NOT_AN_APPOINTMENT
    assert not caught.value.reason.is_reject
    assert "x@example.com" not in caught.value.detail and "not a name" not in caught.value.detail


def test_a_scheduled_event_item_describes_its_event():
    row = parse_calendly(json.loads(calendly_event("E7", start="2025-01-20 15:00", updated="2025-01-02 09:00",
                                                   status="canceled", canceler="host")), "key")
    assert row["record_type"] == "scheduled_event" and row.get("invitee_uri") is None
    assert row["event_status"] == "canceled" and row["event_cancel_reason"] == "host"
    assert row["start_at"].isoformat() == "2025-01-20T15:00:00+00:00"
    assert set(row) <= {c.name for c in CALENDLY.columns}
