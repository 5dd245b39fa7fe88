import csv
import hashlib
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from qpgov import compliance, wordmodel

CORPUS = Path(__file__).parent / "data" / "public_text" / "corpus.tsv"


def corpus_rows():
    with open(CORPUS, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


# One real sentence (from the tune part of the corpus) per pattern family, and the rule
# that should explain it.
HITS = [
    ("SOL was trading near $122 at press time, down 3.3% over the past 24 hours.", compliance.PRICE),
    ("Over the past 30 days, Ethereum is down nearly 25%.", compliance.PRICE),
    ("BTC last changed hands over $31,050 last June.", compliance.PRICE),
    ("Citigroup predicts Ethereum could end 2025 at around $4,300, slightly below its current $4,515 level.",
     compliance.PRICE),
    ("According to our data, the current market cap ranking for BTC is #1 at 692.99 billion.",
     compliance.PRICE),
    ("I would never short ETH.", compliance.PRICE),
    ("BTC will probably outperform all other types of asset classes.", compliance.PRICE),
    ("APYs for U.S. residents range from 0.50% to 18.63% APY.", compliance.PROFIT),
    ("The DPR on staking is set at 3%.", compliance.PROFIT),
    ("Staking is the safe way to generate passive yield in Stonk City.", compliance.PROFIT),
    ("Simply holding crypto has offered patient investors a chance to make profits over the years.",
     compliance.PROFIT),
    ("The deal? A guaranteed 2% daily return, paid out in a new, revolutionary token.", compliance.PROFIT),
    ("Essentially, what you have to do is lend out the crypto you own, and earn increased returns "
     "in exchange.", compliance.PROFIT),
    ("The GEE Token sale will start on 7th of November, 2017.", compliance.PROMOTION),
    ("A presale whitelist is currently being created via application.", compliance.PROMOTION),
    ("Get yours before they sell out, I got mine . . . .", compliance.PROMOTION),
    ("For his part and among other things, DJ Khaled touted Centra as a \"Game changer.\"",
     compliance.PROMOTION),
    ("If you’re looking to earn APY on crypto, our number one pick is DeFi Swap.", compliance.PROMOTION),
    # Short examples of the older rules, kept.
    ("Stakers get guaranteed returns of 12% a year.", compliance.PROFIT),
    ("Earn passive income by running a node.", compliance.PROFIT),
    ("The token price recovered after the fix.", compliance.PRICE),
    ("Market cap doubled this week.", compliance.PRICE),
    ("Buy the dip before mainnet.", compliance.PRICE),
    ("Our influencer partners will share the news.", compliance.PROMOTION),
    ("Don't miss out on the airdrop.", compliance.PROMOTION),
    # Incentive schemes (rule `incentives`), from the tune part.
    ("The Telegram Star Awards program is designed to celebrate and incentivize active participation and "
     "significant trading achievements within the Flipster community.", compliance.PROMOTION),
    ("Anyone who meets the requirements can participate in IDOs and receive allocations based on their "
     "contributions.", compliance.PROMOTION),
    ("It’s good that we are not asking all of those people to stake someone else’s token in order to make "
     "the whitelist.", compliance.PROMOTION),
    ("When you refer a friend and they sign up, both of you receive a bonus.", compliance.PROMOTION),
    ("SWIPE UP to join the E-MAX community.", compliance.PROMOTION),
    ("Start earning with zero trading fees.", compliance.PROMOTION),
    ("First come, first served!", compliance.PROMOTION),
    ("55% of tokens have already claimed.", compliance.PROMOTION),
    ("Your journey to financial empowerment begins here.", compliance.PROMOTION),
    ("Ethereum Skyrockets to New All-Time High: Bulls Rejoice, Analysts Stunned!", compliance.PRICE),
    ("Trade with zero fees for the first 30 days.", compliance.PROMOTION),
    ("Mog was my selection. All between 15x to 40x so far.", compliance.PRICE),
    ("only go up in price", compliance.PRICE),
]

# Technical text that uses the same words: real sentences from post-mortems and protocol
# docs in the tune part, and the near misses the playbook cares about.
NEAR_MISSES = [
    "The base fee is the minimum price per unit of gas required for transaction inclusion.",
    "EIP-1559 revolutionizes transaction fee mechanics by replacing the single gas price auction model "
    "with a dual-fee structure.",
    "Block > target gas: Base fee increases (up to 12.5% per block with default settings)",
    "Using the same ORACLE_FRESHNESS_THRESHOLD (heartbeat) for all the price feeds is not correct becuase "
    "the freshness validation would be useless for some pairs which can return stale data.",
    "If the price does not deviate by more or less than 1% (default) then an assertion will be thrown "
    "preventing the DSP from using CPU on the oracle request or the cron rescheduling action.",
    "Under the hood, it's a token bucket of size burst amount, that refills at the refill rate.",
    "Classic token bucket. Allows bursts up to capacity, refilled at refillPerSecond tokens per second.",
    "sched_yield() causes the calling thread to relinquish the CPU. The thread is moved to the end of the "
    "queue for its static priority and a new thread gets to run.",
    "The Polkadot runtime upgrade to v1.1.2 introduced an unintentional breaking change that prevented "
    "three staking accounts from receiving staking rewards across multiple eras.",
    "As a result, Delegates and voters were not rewarded accurately for the affected epochs.",
    "In addition to this, currently nodes also experience an intermittent 30-35% spike in disk usage "
    "caused by the compaction process of the Badger database used by the node software.",
    "We estimate that about 5% of all requests failed at peak.",
    "A combination of conflicting deployed versions and re-using a previously used bit caused a $460M loss.",
    "The gas price floor was raised to 2 gwei to stop spam.",
    "Minimum fee price is now enforced by the mempool.",
    "Block finality is guaranteed after two confirmations.",
    "We dumped the heap of the stalled process for analysis.",
    "Operators should bear in mind the new disk threshold of 70 percent.",
    "Validator rewards are computed per epoch as before.",
    "The handler returns an error when the key is missing.",
    "Packet loss on the peering link reached 12% for 20 minutes.",
    # Operators' own words that share a pattern's shape.
    "Gas prices rose 300% during the congestion over the past hour.",
    "Error rates rose 40% in the last 24 hours.",
    "The new listing endpoint returns 404 for unknown ids.",
    "Deploy is live!",
    "Join the incident bridge now.",
    "We strongly recommend operators upgrade to v1.4.3.",
    "The replica promotion finished at 10:04 UTC.",
    "Fee rebates for validators were removed.",
    "Validators earn rewards for each attested epoch.",
    # Airdrop contracts in audits and post-mortems, communities and allocations in operations.
    "Eligible users may be permanently unable to claim their airdrop allocation.",
    "Airdrop claim verification should use a consistent and verifiable data source.",
    "Upon launch, we will see an inflow of requests from teams and individuals to join the validator set.",
    "Join the community call on Thursday for the upgrade plan.",
    "Memory allocation failed on the archive node after the upgrade.",
    "Add the monitoring host to the IP whitelist before the maintenance window.",
    "The newest gno.land testnet, Test6, is now live!",
    # An announcement is not a contest; prizes for engineering work are not a sales draw.
    "We are excited to announce that the v1.4 client release is now available.",
    "Prizes will be distributed to the winning teams after the post-hackathon evaluations.",
    # Money lost to an attack or an outage, as a post-mortem counts it.
    "If we assume that 65% of the validators were offline for 8 epochs with an inactivity leak, we estimate "
    "that a loss of 28 ETH was incurred in addition to approximately 50 ETH in lost revenue from missing "
    "attestations.",
    "According to security firms, the attacker drained approximately $4.3 million in USDC and 274 ETH worth "
    "about $553,000.",
    "Requests are served in first-come, first-served order by the RPC gateway.",
    # A protocol's own vesting and issuance, funds recovered after an attack, a metric that soared.
    "Vesting schedule 1 should start vesting immediately with no cliff and should vest at a rate of "
    "5%/monthly so all tokens are vested after 20months.",
    "Surprisingly, Nomad Bridge’s request for stolen funds yielded a 17% return (as of Aug. 9).",
    "For the last months, the volume of on-chain proposals modifying supply and/or borrow caps of assets "
    "have skyrocketed.",
    "Stakers would need to call it occasionally (at least once every 100 eras) to avoid missing out on their "
    "rewards.",
    # What validators lost or earn by doing their job, a bug bounty's budget, a paused claim.
    "The event spanned epochs 411439–411480 (42 epochs), with 248 blocks missing out of 1,344 slots "
    "(~18.5%).",
    "Participation fell to 75%, and validators potentially lost ~382 ETH in rewards.",
    "This metric is useful as it is directly correlated with your validators profits, the less missed "
    "attestations a validator has, the more profitable it is, but also the healthier the network.",
    "DerpDEX allocated up to 1% of $DERP token of its total supply for this developer bug bounty program "
    "based on the severity level of the bug disclosed and assets at risk.",
    "Once the nodes are fully synced, both airdrop claims and bridging operations can resume as per usual.",
    "If you discover a mistake in the process, the best thing to do is wait for the network to start before "
    "correcting it.",
    # The near misses the issue names: a reward distribution bug, a price oracle, a technical metric, a
    # rate as the protocol computes it.
    "The reward distribution bug paid validators 2% less for three epochs.",
    "The price feed returned a stale ETH/USD value of $1,850 for twelve minutes.",
    "The price oracle reported ETH at $3,100 while the market was at $2,900.",
    "Validator uptime fell 4% over the past 24 hours.",
    "Staking APR is computed by the rewards module as inflation divided by bonded ratio.",
    "The bug caused the displayed APY to show 0% for all pools.",
    "It was observed that network traffic was more than 100x above the average, indicating either the "
    "network was under a flood attack or an issue was occurring at the p2p level.",
]


@pytest.mark.parametrize("text,category", HITS)
def test_it_flags_non_technical_posture(text, category):
    findings = compliance.check(text)
    assert category in [f.category for f in findings], text
    for f in findings:
        assert f.sentence in text
        assert f.match and f.match in f.sentence  # the span shown inline is the words that matched
        assert f.rule in compliance.TRIGGERS and f.why


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_it_leaves_technical_text_alone(text):
    assert compliance.check(text) == []


def test_an_exception_does_not_hide_a_real_hit_in_the_same_sentence():
    findings = compliance.check("Gas price is unchanged but the token price fell.")
    assert [f.category for f in findings] == [compliance.PRICE]
    assert "gas" not in findings[0].match.lower()


def test_findings_name_the_offending_sentence():
    text = "We restarted node 3 at 10:02 UTC.\nReturns are guaranteed. Logs were preserved."
    findings = compliance.check(text)
    assert [f.sentence for f in findings] == ["Returns are guaranteed."]


def test_a_sentence_gets_one_finding_per_category():
    findings = compliance.check("Earn a guaranteed 20% APY and passive income on your tokens.")
    assert [f.category for f in findings] == [compliance.PROFIT]


def test_the_word_prefilter_never_changes_a_finding():
    # Each rule runs only on sentences holding one of its trigger words; a trigger list
    # that misses an alternative of the pattern would silently drop findings.
    texts = [row["text"] for row in corpus_rows()] + [t for t, _ in HITS] + NEAR_MISSES
    for path in Path(__file__).resolve().parent.parent.glob("docs/*.md"):
        texts += compliance.sentences(path.read_text())
    for text in texts:
        assert compliance.check(text) == compliance.check(text, prefilter=False), text


# --- The labelled corpus -------------------------------------------------------


def test_the_corpus_is_big_enough_and_every_sentence_has_its_source():
    rows = corpus_rows()
    assert sum(r["label"] != "clean" for r in rows) >= 150
    assert sum(r["label"] == "clean" for r in rows) >= 250
    assert {r["label"] for r in rows} == {"promotion", "profit", "price", "clean"}
    assert all(r["source"].startswith("http") and r["text"].strip() for r in rows)
    assert len({r["text"] for r in rows}) == len(rows)


def test_the_split_is_by_source_so_no_source_sits_on_both_sides():
    # Decided before tuning: a source's SHA-256 is odd -> report, even -> tune.
    for row in corpus_rows():
        odd = int(hashlib.sha256(row["source"].encode()).hexdigest(), 16) % 2
        assert row["split"] == ("report" if odd else "tune"), row["text"]


def test_the_issue_examples_are_not_in_the_corpus():
    examples = ["Get your tokens now", "ICO starts in a few hours", "I endorse this opportunity",
                "20% yield on deposits", "160% APY", "a safe way to earn a high rate of return",
                "SOL trades at $122.11", "3.2% decline to about $35.60", "it will become super valuable"]
    texts = [row["text"].lower() for row in corpus_rows()]
    assert not [e for e in examples if any(e.lower() in t for t in texts)]


# The goal is 0.90 recall in every category and at most 0.05 false alarms. Measured on the
# report part (docs/public.md), rules 2026-12-07.7 with word model 0b411e28745c: promotion
# 933/1035, profit 280/286, price 269/283, false alarms 49/1284. The floors are those figures
# rounded down, so a change to the rules or the model that makes any of them slide back fails
# here; a new round of text changes the report part, and the floors are set again from it.
FLOORS = {compliance.PROMOTION: 0.90, compliance.PROFIT: 0.97, compliance.PRICE: 0.95}


def test_the_held_out_part_meets_the_floor():
    rows = [(r["label"], r["text"]) for r in corpus_rows() if r["split"] == "report"]
    ev = compliance.evaluate(rows)
    for category in compliance.CATEGORIES:
        assert ev.total[category] >= 30
        # Numbers only: the misses are not to be read while tuning (use --eval --split report).
        assert ev.recall(category) >= FLOORS[category], (category, round(ev.recall(category), 2))
    assert ev.clean >= 200
    assert ev.false_positive_rate <= 0.05, round(ev.false_positive_rate, 3)


def test_the_eval_command_prints_recall_and_every_miss_and_false_alarm(tmp_path):
    corpus = tmp_path / "small.tsv"
    corpus.write_text(
        "label\tsplit\ttext\tsource\n"
        "price\treport\tSOL was trading near $122 at press time.\thttps://a.example\n"
        "profit\treport\tThe disk filled up overnight.\thttps://b.example\n"
        "clean\treport\tThe token price fell.\thttps://c.example\n"
        "clean\treport\tThe validator restarted at 10:02 UTC.\thttps://d.example\n"
        "promotion\ttune\tJoin the presale now.\thttps://e.example\n"
    )
    out = StringIO()
    call_command("check_public_text", eval=str(corpus), split="report", stdout=out)
    text = out.getvalue()
    assert "price discussion               1     1     1.00" in text
    assert "profit or yield promise        0     1     0.00" in text
    assert "clean (false alarms)           1     2    0.500" in text
    assert "[profit or yield promise] The disk filled up overnight." in text
    assert "The token price fell." in text and "asset-price" in text
    assert "Join the presale now." not in text  # the tune row is not in the report split


def test_the_eval_command_refuses_an_unknown_label(tmp_path):
    from django.core.management import CommandError

    corpus = tmp_path / "bad.tsv"
    corpus.write_text("label\tsplit\ttext\tsource\nhype\ttune\tMoon!\thttps://a.example\n")
    with pytest.raises(CommandError, match="Unknown labels"):
        call_command("check_public_text", eval=str(corpus))


# --- The word model ------------------------------------------------------------


def test_the_shipped_word_model_is_what_the_tune_part_gives():
    # Rebuilt by `manage.py check_public_text --train corpus.tsv`; a corpus or code
    # change without a rebuild fails here.
    rows = corpus_rows()
    assert wordmodel.dumps(wordmodel.train(rows)) == wordmodel.MODEL_FILE.read_text(encoding="utf-8")


def test_the_word_model_never_learns_from_the_report_part():
    rows = corpus_rows()
    without_report = [r for r in rows if r["split"] == "tune"]
    report_relabelled = [dict(r, label="clean") if r["split"] == "report" else r for r in rows]
    assert wordmodel.train(rows) == wordmodel.train(without_report) == wordmodel.train(report_relabelled)


def test_a_word_model_finding_names_its_words_and_score():
    # A real tune-part sentence that no rule names: the model flags it and says why.
    sentence = "We know you want to be prepared when the first three Worlds go on sale."
    [finding] = compliance.check(sentence)
    model = wordmodel.shipped()
    assert finding.rule == "word-model" and finding.category == compliance.PROMOTION
    assert finding.match in sentence
    verdict = model.verdict(sentence)
    assert verdict.score > model.threshold
    assert f"> {model.threshold:g}" in finding.why and f"'{verdict.top[0][0]}'" in finding.why


def test_the_word_model_stays_quiet_on_sentences_a_rule_already_flags():
    findings = compliance.check("Stakers get guaranteed returns of 12% a year.")
    assert [f.rule for f in findings] != [] and "word-model" not in [f.rule for f in findings]


def test_the_threshold_is_chosen_by_cross_validation_on_the_tune_part():
    data = json.loads(wordmodel.MODEL_FILE.read_text(encoding="utf-8"))
    assert data["cv_false_alarm_rate"] <= wordmodel.MAX_CV_FALSE_ALARMS
    assert data["threshold"] in wordmodel.THRESHOLDS
