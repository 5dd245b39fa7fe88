import pytest

from qpgov import compliance

HITS = [
    ("Stakers get guaranteed returns of 12% a year.", compliance.PROFIT),
    ("Returns are guaranteed for validators.", compliance.PROFIT),
    ("A risk-free investment for node operators.", compliance.PROFIT),
    ("Earn passive income by running a node.", compliance.PROFIT),
    ("The token price recovered after the fix.", compliance.PRICE),
    ("QPAY price will rise after the upgrade.", compliance.PRICE),
    ("Market cap doubled this week.", compliance.PRICE),
    ("We are going to the moon!", compliance.PRICE),
    ("Buy the dip before mainnet.", compliance.PRICE),
    ("Our influencer partners will share the news.", compliance.PROMOTION),
    ("Don't miss out on the airdrop.", compliance.PROMOTION),
]

NEAR_MISSES = [
    "The gas price floor was raised to 2 gwei to stop spam.",
    "Minimum fee price is now enforced by the mempool.",
    "Block finality is guaranteed after two confirmations.",
    "We dumped the heap of the stalled process for analysis.",
    "Operators should bear in mind the new disk threshold of 70 percent.",
    "The node was restored from the daily state snapshot in 41 minutes.",
    "Validator rewards are computed per epoch as before.",
]


@pytest.mark.parametrize("text,category", HITS)
def test_it_flags_non_technical_posture(text, category):
    findings = compliance.check(text)
    assert findings, text
    assert findings[0].category == category
    assert findings[0].sentence == text


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_it_leaves_technical_text_alone(text):
    assert compliance.check(text) == []


def test_an_exception_does_not_hide_a_real_hit_in_the_same_sentence():
    findings = compliance.check("Gas price is unchanged but the token price fell.")
    assert [f.match.lower() for f in findings] == ["price"]


def test_findings_name_the_offending_sentence():
    text = "We restarted node 3 at 10:02 UTC.\nReturns are guaranteed. Logs were preserved."
    findings = compliance.check(text)
    assert [f.sentence for f in findings] == ["Returns are guaranteed."]
