"""The checker catches lost, reappeared, duplicated and backwards updates; passes correct runs."""

from __future__ import annotations

from typing import Any

from chaos.checker import check
from chaos.history import Convergence, FaultRecord, Op


class Log:
    """Builds a history for one actor, one op at a time, with explicit times."""

    def __init__(self, actor: str = "a", tmpl: str = "chaoslog") -> None:
        self.actor, self.tmpl = actor, tmpl
        self.ops: list[Op] = []
        self.next = 1

    def add(
        self, start: float, end: float, value: Any = None, outcome: str = "ok", **kw: Any
    ) -> int:
        op = self.next
        self.next += 1
        if outcome == "ok" and value is None:
            raise AssertionError("an ok op needs a value")
        self.ops.append(
            Op(
                op,
                self.actor,
                self.tmpl,
                "n1",
                start,
                end,
                outcome,
                value,  # type: ignore[arg-type]
                kw.get("error"),
                kw.get("definite", False),
                kw.get("kind", "write"),
            )
        )
        return op


def kinds(result: Any) -> list[str]:
    return sorted(v.kind for v in result.violations)


def test_correct_sync_log_history_passes() -> None:
    h = Log()
    h.add(0.0, 0.1, [1])
    h.add(0.2, 0.3, [1, 2])
    h.add(0.25, 0.5, [1, 2, 3])  # overlaps op 2: any order among overlapping ops is fine
    h.add(0.6, 0.7, outcome="unknown", error="504 timeout")  # applied: may count
    h.add(0.8, 0.9, [1, 2, 3, 4, 5])
    h.add(1.0, 1.1, outcome="fail", error="refused", definite=True)
    r = check(h.ops, {"a": [1, 2, 3, 4, 5]})
    assert r.ok, r.violations
    assert r.unknown_applied == 1


def test_lost_update_in_sync_log_is_caught() -> None:
    h = Log()
    h.add(0.0, 0.1, [1])
    h.add(0.2, 0.3, [1, 2])
    r = check(h.ops, {"a": [1]})
    assert "lost-update" in kinds(r)
    lost = next(v for v in r.violations if v.kind == "lost-update")
    assert lost.actor == "a" and lost.history[0]["op"] == 2


def test_lost_then_reappeared_is_caught() -> None:
    h = Log()
    h.add(0.0, 0.1, [1])
    h.add(0.2, 0.3, [1, 2])
    h.add(0.4, 0.5, [1, 3])  # op 2 gone: a stale activation answered
    h.add(0.6, 0.7, [1, 2, 3, 4])  # ... and op 2 is back
    r = check(h.ops, {"a": [1, 2, 3, 4]})
    assert "lost-then-reappeared" in kinds(r)
    assert "split-history" in kinds(r)


def test_lost_then_reappeared_in_final_state_of_snapshot_actor() -> None:
    h = Log(tmpl="chaoslog-snap")
    h.add(0.0, 0.1, [1])
    h.add(0.2, 0.3, [1, 2])
    h.add(0.4, 0.5, [1, 3])
    r = check(h.ops, {"a": [1, 3, 2]})
    assert "lost-then-reappeared" in kinds(r)


def test_backwards_total_is_caught() -> None:
    h = Log("c", "counter")
    h.add(0.0, 0.1, 1)
    h.add(0.2, 0.3, 2)
    h.add(0.4, 0.5, 2)  # sent after op 2 was acknowledged with 2: must be 3
    r = check(h.ops, {"c": 3})
    assert "went-backwards" in kinds(r)


def test_overlapping_totals_may_come_in_any_order() -> None:
    h = Log("c", "counter")
    h.add(0.0, 0.5, 2)
    h.add(0.1, 0.3, 1)  # overlaps op 1: it may have been applied first
    r = check(h.ops, {"c": 2})
    assert r.ok, r.violations


def test_sync_total_lower_than_acknowledged_is_lost() -> None:
    h = Log("c", "counter")
    for i in range(4):
        h.add(i, i + 0.5, i + 1)
    r = check(h.ops, {"c": 3})
    assert "lost-update" in kinds(r)


def test_total_counting_an_op_twice_is_caught() -> None:
    h = Log("c", "counter")
    h.add(0.0, 0.1, 1)
    h.add(0.2, 0.3, 3)  # only two ops were ever sent
    r = check(h.ops, {"c": 3})
    assert "duplicate" in kinds(r)


def test_duplicate_and_phantom_and_refused_ops_in_a_log() -> None:
    h = Log()
    h.add(0.0, 0.1, [1])
    h.add(0.2, 0.3, outcome="fail", error="400 bad_request", definite=True)
    r = check(h.ops, {"a": [1, 1, 2, 99]})
    assert {"duplicate", "phantom", "refused-but-applied"} <= set(kinds(r))


def test_snapshot_loss_inside_crash_window_is_allowed_outside_is_not() -> None:
    h = Log("s", "chaoslog-snap")
    h.add(0.0, 0.1, [1])
    h.add(20.0, 20.1, [1, 2])  # acknowledged 1.9 s before the kill: may be lost
    crash = FaultRecord("kill", ("n1",), 22.0, 22.0, crash_like=True)
    r = check(h.ops, {"s": [1]}, [crash])
    assert r.ok, r.violations
    assert r.allowed_losses == 1
    r = check(h.ops, {"s": []}, [crash])  # op 1 was acknowledged 22 s before: too old
    assert kinds(r) == ["lost-update"]
    graceful = FaultRecord("term", ("n1",), 22.0, 23.0, crash_like=False)
    assert kinds(check(h.ops, {"s": [1]}, [graceful])) == ["lost-update"]


def test_snapshot_total_loss_bounded_by_crash_windows() -> None:
    h = Log("t", "tally")
    h.add(0.0, 0.1, 1)
    h.add(30.0, 30.1, 2)
    crash = FaultRecord("kill", ("n1",), 31.0, 31.0, crash_like=True)
    assert check(h.ops, {"t": 1}, [crash]).ok
    assert kinds(check(h.ops, {"t": 0}, [crash])) == ["lost-update"]


def test_wrong_reply_and_server_error() -> None:
    h = Log()
    h.add(0.0, 0.1, [7])  # a reply that does not end with its own op
    h.add(0.2, 0.3, outcome="fail", error="500 action_failed")
    r = check(h.ops, {"a": []})
    assert {"wrong-reply", "server-error", "phantom"} <= set(kinds(r))


def test_error_but_applied_is_a_warning_not_a_violation() -> None:
    h = Log()
    h.add(0.0, 0.1, outcome="fail", error="503 unavailable")
    r = check(h.ops, {"a": [1]})
    assert r.ok
    assert [w.kind for w in r.warnings] == ["error-but-applied"]


def test_unanswered_actor_and_owner_disagreement() -> None:
    h = Log()
    h.add(0.0, 0.1, [1])
    conv = Convergence(members_ok=True, owners={"a": {"n1": "n1", "n2": "n2"}})
    r = check(h.ops, {"a": None}, convergence=conv)
    assert kinds(r) == ["no-answer", "owner-disagreement"]
    conv = Convergence(members_ok=False, members_detail="n2 sees 2 active")
    assert kinds(check(h.ops, {"a": [1]}, convergence=conv)) == ["no-convergence"]


def test_reads_may_repeat_a_value_but_never_miss_an_acknowledged_op() -> None:
    h = Log()
    h.add(0.0, 0.1, [1])
    h.add(0.2, 0.3, [1], kind="read")  # nothing new: equal is fine for a read
    h.add(0.4, 0.5, [1, 3])
    assert check(h.ops, {"a": [1, 3]}).ok
    h.add(0.6, 0.7, [1], kind="read")  # op 3 was acknowledged before this read was sent
    assert "went-backwards" in kinds(check(h.ops, {"a": [1, 3]}))


def test_stale_read_of_a_counter_is_caught() -> None:
    h = Log("c", "counter")
    h.add(0.0, 0.1, 1)
    h.add(0.2, 0.3, 2)
    h.add(0.4, 0.5, 2, kind="read")
    assert check(h.ops, {"c": 2}).ok
    h.add(0.6, 0.7, 1, kind="read")
    assert {"stale-read", "went-backwards"} <= set(kinds(check(h.ops, {"c": 2})))


def test_read_op_ids_are_not_ops() -> None:
    h = Log()
    h.add(0.0, 0.1, [1])
    read = h.add(0.2, 0.3, [1], kind="read")
    r = check(h.ops, {"a": [1, read]})  # a read's id in the state was never sent as an op
    assert "phantom" in kinds(r)
    assert check(h.ops, {"a": [1]}).ok


def test_http_outcomes_are_classified_conservatively() -> None:
    from chaos.history import classify_http

    assert classify_http(200, "") == ("ok", "", False)
    assert classify_http(400, "bad_request") == ("fail", "400 bad_request", True)
    assert classify_http(409, "state_conflict") == ("fail", "409 state_conflict", True)
    assert classify_http(504, "timeout") == ("unknown", "504 timeout", False)
    # a 503 may hide a statestore commit in doubt: failed, but not proof of "not applied"
    assert classify_http(503, "unavailable") == ("fail", "503 unavailable", False)
