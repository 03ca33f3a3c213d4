"""[gate.trust] rule decisions on corrected deltas: pass, FAIL and INCONCLUSIVE with the gold queries likely to decide."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from evalharness.compare.corrected import Corrected, CorrectedRow, PPIEstimate, gold_needed
from evalharness.compare.trustgate import TrustCheck, trusted_rule
from evalharness.config import GateRule, TrustConfig


def _est(value: float, half: float, n: int = 40) -> PPIEstimate:
    return PPIEstimate(value, value - half, value + half, 0.5, n, float(n), 400, 0.01, (half / 1.96) ** 2 * n)


def _comparison(delta: float, half: float) -> SimpleNamespace:
    row = CorrectedRow("cand", "nDCG@10", _est(0.70, 0.02), _est(0.70 + delta, 0.02), _est(delta, half), 0.05, (0.03, 0.07))
    return SimpleNamespace(corrected=Corrected("human:gold", "j", 40, 400, 40.0, False, [row]), alpha=0.05)


TRUSTED = TrustCheck("human:gold", "j", "kappa", 0.4, "trusted", 0.6, (0.5, 0.7), 300, 40)
RULE = GateRule(metric="nDCG@10", max_drop=0.01)
CFG = TrustConfig(source="human:gold", min_kappa=0.4)


def test_corrected_ci_within_beyond_or_straddling_the_bound() -> None:
    ok = trusted_rule(_comparison(+0.02, 0.015), CFG, TRUSTED, "cand", RULE, "r")  # drop CI [-0.035, -0.005]
    assert ok.status == "pass" and "within bounds" in ok.detail
    bad = trusted_rule(_comparison(-0.05, 0.02), CFG, TRUSTED, "cand", RULE, "r")  # drop CI [0.03, 0.07] > 0.01
    assert bad.status == "FAIL" and "beyond the bound" in bad.detail
    c = _comparison(-0.02, 0.02)  # drop CI [0.0, 0.04] straddles 0.01
    unsure = trusted_rule(c, CFG, TRUSTED, "cand", RULE, "r")
    need = gold_needed(c.corrected.rows[0].delta, 0.01)
    assert unsure.status == "INCONCLUSIVE" and unsure.more_gold == need - 40 > 0
    assert f"about {need - 40} more gold queries" in unsure.detail


def test_judge_deltas_only_when_trusted_and_asked() -> None:
    judge_rules = TrustConfig(source="human:gold", min_kappa=0.4, use_corrected=False)
    assert trusted_rule(_comparison(-0.05, 0.02), judge_rules, TRUSTED, "cand", RULE, "r") is None  # the usual rule
    untrusted = TrustCheck("human:gold", "j", "kappa", 0.4, "untrusted", 0.2, (0.1, 0.3), 300, 40)
    decided = trusted_rule(_comparison(-0.05, 0.02), judge_rules, untrusted, "cand", RULE, "r")
    assert decided.status == "FAIL" and "judge not trusted" in decided.detail
    no_gold = SimpleNamespace(corrected=Corrected("human:gold", "j", 1, 400, 1.0, False, []), alpha=0.05)
    missing = trusted_rule(no_gold, judge_rules, untrusted, "cand", RULE, "r")
    assert missing.status == "INCONCLUSIVE" and "no corrected delta" in missing.detail


@pytest.mark.parametrize("key,stat", [("min_kappa_linear", "kappa_linear"), ("min_alpha", "alpha_ordinal")])
def test_trust_statistic_from_the_minimum_given(key: str, stat: str) -> None:
    assert TrustConfig(source="human:gold", **{key: 0.3}).statistic == (stat, 0.3)


def test_bad_trust_config_is_one_line(tmp_path) -> None:
    from conftest import assert_user_error, run_cli

    (tmp_path / "evalharness.toml").write_text('[gate.trust]\nsource = "gold"\n')
    assert_user_error(run_cli(tmp_path, "gate", "-b", "a", "-c", "b"), "gate.trust.source", "human:gold")
    (tmp_path / "evalharness.toml").write_text('[gate.trust]\nsource = "human:gold"\nmin_kappa = 0.4\nmin_alpha = 0.3\n')
    assert_user_error(run_cli(tmp_path, "gate", "-b", "a", "-c", "b"), "gate.trust", "one minimum agreement")
