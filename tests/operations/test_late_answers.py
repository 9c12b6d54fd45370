"""Which pages may still come back for their last answer, and so keep a finished run serving (by the clock)."""

from __future__ import annotations

from mephisto_core.operations.run.late_answers import RECONNECT_SECONDS, RESEND_SECONDS, UnreadAnswers

ALICE = (False, 1)
BOB = (False, 2)


def test_nothing_to_wait_for_when_every_page_spoke_after_its_answer_or_left_by_itself() -> None:
    unread = UnreadAnswers()
    unread.answered(10, ALICE, True, now=100.0)
    unread.heard_from(10)  # the page's next hello: it read the answer
    unread.closed(10, ALICE, 100.5, page_left=False)
    unread.answered(11, BOB, True, now=101.0)
    unread.closed(11, BOB, 102.0, page_left=True)  # a close frame from the page: the worker left
    assert unread.wait_reason(102.0, channel_down=False) is None


def test_page_lost_with_its_answer_unread_is_waited_for_until_it_comes_back_or_its_time_is_up() -> None:
    unread = UnreadAnswers()
    unread.answered(10, ALICE, True, now=100.0)
    unread.closed(10, ALICE, 100.1, page_left=False)
    assert unread.wait_reason(101.0, channel_down=False) == (
        "1 page(s) closed before reading that their last submission was stored"
    )
    assert unread.wait_reason(100.1 + RECONNECT_SECONDS, channel_down=False) is None
    unread.back(ALICE)  # its hello with the token on a new socket
    assert unread.wait_reason(101.0, channel_down=False) is None


def test_answer_stored_after_its_page_was_lost_is_waited_for() -> None:
    unread = UnreadAnswers()
    unread.answered(10, ALICE, False, now=100.0)  # the socket closed while the submission was being stored
    assert unread.wait_reason(100.5, channel_down=False) is not None
    unread.back(ALICE)
    assert unread.wait_reason(100.5, channel_down=False) is None


def test_answers_sent_before_the_channel_came_back_are_waited_for_as_long_as_a_page_takes_to_resend() -> None:
    unread = UnreadAnswers()
    unread.answered(10, ALICE, True, now=100.0)  # maybe lost with the channel
    unread.channel_restored(100.3)
    unread.answered(11, BOB, True, now=101.0)  # sent over the new channel
    assert unread.undelivered()
    unread.delivered_before(101.5)  # a round trip on the new channel: Bob's answer is there, Alice's maybe not
    assert not unread.undelivered()
    assert unread.wait_reason(101.5, channel_down=False) == (
        "1 page(s) may resend a submission whose answer the router channel lost"
    )
    assert unread.wait_reason(100.3 + RESEND_SECONDS, channel_down=False) is None
    unread.heard_from(10)  # the resend came
    assert unread.wait_reason(101.0, channel_down=False) is None


def test_answers_long_read_before_a_channel_loss_are_not_waited_for() -> None:
    unread = UnreadAnswers()
    unread.answered(10, ALICE, True, now=100.0)  # a page left open on its thank-you screen
    unread.channel_restored(100.0 + RESEND_SECONDS + 1)
    assert unread.wait_reason(100.0 + RESEND_SECONDS + 2, channel_down=False) is None


def test_answers_wait_until_a_round_trip_shows_they_reached_the_router() -> None:
    unread = UnreadAnswers()
    unread.answered(10, ALICE, True, now=100.0)
    assert unread.undelivered()
    assert unread.wait_reason(100.1, channel_down=False) == "1 answer(s) not yet known to have reached the router"
    unread.delivered_before(100.1)
    assert not unread.undelivered() and unread.wait_reason(100.2, channel_down=False) is None
    unread.channel_restored(100.5)  # lost after the round trip: the answer had reached the router before
    assert unread.wait_reason(100.6, channel_down=False) is None


def test_a_channel_that_is_down_is_waited_for_only_when_it_holds_an_answer() -> None:
    unread = UnreadAnswers()
    assert unread.wait_reason(0.0, channel_down=True) is None  # every page spoke after its answer
    unread.answered(10, ALICE, True, now=1.0)
    assert unread.wait_reason(1.0, channel_down=True) == (
        "the router channel is down, and 1 answer(s) go out when it is back"
    )


def test_pages_that_left_long_ago_are_forgotten_while_new_ones_are_kept() -> None:
    unread = UnreadAnswers()
    for conn in range(300):
        unread.answered(conn, (False, conn), True, now=0.0)
        unread.closed(conn, (False, conn), 0.0, page_left=False)
    unread.answered(1000, ALICE, True, now=RECONNECT_SECONDS + 1)
    unread.closed(1000, ALICE, RECONNECT_SECONDS + 1, page_left=False)
    assert len(unread._left) < 300
    assert unread.wait_reason(RECONNECT_SECONDS + 2, channel_down=False) == (
        "1 page(s) closed before reading that their last submission was stored"
    )
