"""The detector is a state machine over lists of probabilities (README, "Detector")."""

from __future__ import annotations

from firstcrack.agent.core.detector import Detector
from firstcrack.agent.core.roast import Phase
from firstcrack.agent.core.settings import RuntimeSettings

HOP = 3.0
PUBLISHED = {"rule": "k_of_n", "min_positive": 5, "confirm_s": 20.0}  # 5 in 20 s
DEFAULT = RuntimeSettings(**PUBLISHED)


def feed(
    det: Detector,
    probs: list[float],
    settings: RuntimeSettings = DEFAULT,
    start_s: float = 10.0,
    silent: set[int] | None = None,
) -> list:
    """Feed windows ending at start_s, start_s + HOP, ...; return the decisions."""
    silent = silent or set()
    return [det.update(start_s + i * HOP, p, i in silent, settings) for i, p in enumerate(probs)]


def confirmations(decisions: list) -> list:
    return [d.confirmation for d in decisions if d.confirmation is not None]


def test_k_of_n_confirms_on_the_fifth_positive_within_confirm_span() -> None:
    """5 positives in 20 s: with a 3 s hop, the fifth consecutive positive confirms."""
    decisions = feed(Detector(), [0.1, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9])
    assert [d.confirmation is not None for d in decisions] == [
        False,
        False,
        False,
        False,
        False,
        True,
        False,
    ]
    assert decisions[5].positive_windows == 5
    assert decisions[5].confirmation.detected_s == 10.0 + 5 * HOP


def test_positives_spread_wider_than_confirm_span_do_not_confirm() -> None:
    """Positives every 6 s: only 4 fit in any 20 s span, so 5-of-20 s never confirms."""
    probs = [0.9, 0.1] * 12
    assert confirmations(feed(Detector(), probs)) == []


def test_k_of_n_counts_windows_at_the_span_edge() -> None:
    """A positive exactly confirm_s before now still counts (inclusive span)."""
    settings = RuntimeSettings(min_positive=2, confirm_s=6.0, rule="k_of_n")
    decisions = feed(Detector(), [0.9, 0.1, 0.9], settings)
    assert decisions[2].confirmation is not None


def test_onset_is_backdated_to_first_positive_of_confirming_run() -> None:
    """Onset = midpoint of the first positive window still inside the confirm span."""
    probs = [0.9] + [0.1] * 8 + [0.9] * 5  # the lone early positive has expired
    conf = confirmations(feed(Detector(window_s=10.0), probs))[0]
    first_positive_end = 10.0 + 9 * HOP
    assert conf.onset_s == first_positive_end - 5.0
    assert conf.detected_s == 10.0 + 13 * HOP


def test_fires_once_per_roast_until_start() -> None:
    det = Detector()
    assert len(confirmations(feed(det, [0.9] * 20))) == 1
    assert det.roast.phase is Phase.FIRST_CRACK
    det.roast.start(now_s=80.0)
    assert det.roast.phase is Phase.ARMED
    assert len(confirmations(feed(det, [0.9] * 6, start_s=90.0))) == 1


def test_min_roast_s_ignores_early_positives() -> None:
    settings = RuntimeSettings(min_roast_s=40.0, **PUBLISHED)
    decisions = feed(Detector(), [0.9] * 16, settings)
    assert not any(d.positive for d in decisions[:10])  # ends 10..37 s < 40 s
    conf = confirmations(decisions)[0]
    assert conf.detected_s == 52.0  # positives end 40, 43, 46, 49, 52


def test_silence_gate_scores_zero_and_flags() -> None:
    decisions = feed(Detector(), [0.95] * 8, silent={0, 1, 2, 3, 4, 5, 6, 7})
    assert all(d.silent and d.probability == 0.0 and not d.positive for d in decisions)
    assert confirmations(decisions) == []


def test_not_armed_never_confirms_and_armed_setting_is_honoured() -> None:
    det = Detector(auto_arm=False)
    assert det.roast.phase is Phase.IDLE
    assert confirmations(feed(det, [0.9] * 10)) == []
    det.roast.set_armed(True, now_s=40.0)
    assert det.roast.phase is Phase.ARMED and det.roast.roast_start_s == 40.0
    off = RuntimeSettings(armed=False, **PUBLISHED)
    assert confirmations(feed(det, [0.9] * 10, off, start_s=50.0)) == []


def test_drop_freezes_development_and_ends_roast() -> None:
    det = Detector()
    conf = confirmations(feed(det, [0.9] * 5))[0]
    assert det.roast.development_s(conf.detected_s + 30.0) == conf.detected_s + 30.0 - conf.onset_s
    det.roast.drop(now_s=100.0)
    assert det.roast.phase is Phase.IDLE
    assert det.roast.development_s(500.0) == 100.0 - conf.onset_s
    assert det.roast.roast_s(500.0) == 100.0
    assert confirmations(feed(det, [0.9] * 6, start_s=110.0)) == []


def test_reset_clears_latch_and_rearms_with_auto_arm() -> None:
    det = Detector(auto_arm=True)
    feed(det, [0.9] * 5)
    det.roast.reset(now_s=60.0)
    roast = det.roast
    assert roast.confirmation is None and roast.phase is Phase.ARMED and roast.roast_start_s == 60.0
    manual = Detector(auto_arm=False)
    manual.roast.start(0.0)
    manual.roast.reset(now_s=5.0)
    assert manual.roast.phase is Phase.IDLE and manual.roast.roast_start_s is None


def test_threshold_change_applies_to_next_window() -> None:
    det = Detector()
    low = RuntimeSettings(threshold=0.3, **PUBLISHED)
    decisions = feed(det, [0.4] * 4) + feed(det, [0.4] * 2, low, start_s=22.0)
    assert [d.positive for d in decisions] == [False] * 4 + [True] * 2


EVIDENCE = RuntimeSettings(rule="evidence", min_positive=4, confirm_s=30.0)


def test_evidence_confirms_sparse_positives_that_k_of_n_misses() -> None:
    """Positives 9 s apart never put 5 in 20 s, but their leaky sum (half-life 30 s) reaches 4."""
    probs = [0.9 if i % 3 == 0 else 0.1 for i in range(30)]  # one positive every 9 s
    assert confirmations(feed(Detector(), probs)) == []
    decisions = feed(Detector(), probs, EVIDENCE)
    confirmed = [i for i, d in enumerate(decisions) if d.confirmation is not None]
    # evidence after the n-th positive: sum of 0.5 ** (9 k / 30) for k < n reaches 4 at n = 7
    assert confirmed == [18]
    assert decisions[18].positive_windows == 7
    assert decisions[18].confirmation.onset_s == 10.0 - 5.0


def test_evidence_lets_an_isolated_click_decay_away() -> None:
    """Three overlapping positive windows from one click, repeated every 2 minutes: never 4."""
    click = [0.95, 0.95, 0.95] + [0.05] * 37  # 3 windows of 120 s at a 3 s hop
    decisions = feed(Detector(), click * 5, EVIDENCE)
    assert confirmations(decisions) == []
    assert max(d.evidence for d in decisions) < 3.0


def test_evidence_run_starts_after_old_positives_decayed() -> None:
    """A stray positive long before the crack does not drag the onset back to it."""
    probs = [0.9] + [0.1] * 40 + [0.9] * 6  # stray at 10 s, crack windows from 133 s
    decisions = feed(Detector(), probs, EVIDENCE)
    (confirmation,) = confirmations(decisions)
    assert confirmation.onset_s == 10.0 + 41 * HOP - 5.0


def test_late_decision_is_dated_when_it_was_made() -> None:
    """A window re-scored late (cadence lookback) confirms at the time the agent knew."""
    det = Detector()
    settings = RuntimeSettings(rule="k_of_n", min_positive=2, confirm_s=10.0)
    det.update(10.0, 0.9, False, settings, now_s=22.0)
    decision = det.update(13.0, 0.9, False, settings, now_s=22.0)
    assert decision.confirmation is not None
    assert decision.confirmation.detected_s == 22.0
    assert decision.confirmation.onset_s == 5.0


def test_evidence_onset_ignores_a_stray_positive_before_a_long_gap() -> None:
    """A stray positive 36 s before the crack keeps some evidence but is not the onset."""
    probs = [0.9] + [0.1] * 11 + [0.9] * 6  # stray at 10 s, crack windows from 46 s
    decisions = feed(Detector(), probs, EVIDENCE)
    (confirmation,) = confirmations(decisions)
    assert confirmation.onset_s == 10.0 + 12 * HOP - 5.0
