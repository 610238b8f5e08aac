#!/usr/bin/env python3
"""Compute reference embeddings for all-MiniLM-L6-v2 with sentence-transformers.

Run ONCE (see README.md in this folder for the exact environment):

    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
        python make_reference.py /root/.cache/orgjobs/models/all-MiniLM-L6-v2

Writes embeddings.json next to this script. The Rust tests of orgjobs-embed
compare their own embeddings (and token ids) with the values in that file.
"""

import json
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import sentence_transformers  # noqa: E402
import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

LONG_TICKET = (
    "Hello, I am writing for the THIRD time about the same problem and frankly I am losing patience. "
    "On Monday 3 March at about 09:45 I sent a SEPA transfer of EUR 1,249.99 from my current account "
    "(IBAN ending ...4471) to my landlord, reference \"RENT-2025-03 / flat 2B\". The app showed "
    "\"Transfer pending\", then \"Processing\", and then, two days later, simply \"Failed (code TX-0912)\" "
    "with no explanation whatsoever. The money left my balance immediately: it went from EUR 3,102.40 "
    "down to EUR 1,852.41, and it has NOT come back. My landlord says nothing arrived on his side either. "
    "So where is my money?! I called your hotline (+44 20 7946 0321) on Wednesday, waited 47 minutes, "
    "and the agent - I think her name was Sandra - told me it would be \"resolved within 3-5 business days\". "
    "That was eight days ago. To make things worse, on Friday my debit card (Visa, ending 8812, expiry 11/27) "
    "was declined at the supermarket for a purchase of just EUR 63.20, even though I should still have had "
    "enough money on the account. The terminal said \"DECLINED - 05 DO NOT HONOUR\". I tried again twice, "
    "same result. Then I tried to pay online for a train "
    "ticket (EUR 38.50) and that was declined too, but I received an SMS saying a payment of EUR 38.50 had "
    "been authorised?? Is it blocked or not? Yesterday I also noticed a refund from an online shop, order "
    "#A-55231-X, EUR 129.00, that was promised \"within 48 hours\" on 28 February and still hasn't shown up "
    "in my transactions; the shop insists they sent it on 1 March, transaction id 7f3c-22ab-91de. "
    "Screenshots attached: transfer_failed.png, card_declined.jpg, refund_email.pdf. I need: (1) the "
    "EUR 1,249.99 returned or the transfer re-sent TODAY, since my rent is now late and my landlord charges "
    "a EUR 25 fee per day; (2) my card unblocked, or an explanation of why it was blocked; (3) confirmation "
    "that the EUR 129.00 refund has been received, and when it will appear. If this is not sorted by Friday "
    "I will close my account (customer for 11 years!) and complain to the financial ombudsman. Regards, J. Moreau (customer no. 00418-7733)"
)

SENTENCES = [
    "My card has not arrived yet",
    "When will my new card be delivered?",
    "How do I change my PIN?",
    "I was CHARGED TWICE for the same purchase — café in Zürich, 12.50 €!!",
    "",
    LONG_TICKET,
    "Reset password link expired; can't log in to the dashboard (error 403).",
]

COSINE_PAIRS = [(0, 1), (0, 2)]


def sentence_token_ids(model, text):
    """Token ids exactly as sentence-transformers feeds them to the model
    (with its truncation at model.max_seq_length)."""
    prep = getattr(model, "preprocess", None) or model.tokenize
    features = prep([text])
    return [int(t) for t in features["input_ids"][0].tolist()]


def main():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} MODEL_DIR")
    model_dir = sys.argv[1]
    out = Path(__file__).resolve().parent / "embeddings.json"

    model = SentenceTransformer(model_dir, device="cpu")
    model.eval()

    embeddings = model.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True)
    assert embeddings.shape == (len(SENTENCES), 384), embeddings.shape

    records = []
    for text, emb in zip(SENTENCES, embeddings):
        ids = sentence_token_ids(model, text)
        records.append(
            {
                "text": text,
                "token_ids": ids,
                "embedding": [round(float(x), 7) for x in emb],
            }
        )

    # Token count of the long ticket with no truncation at all, for the README.
    untruncated = len(model.tokenizer(LONG_TICKET, truncation=False)["input_ids"])
    print(f"sentence 5: {untruncated} tokens untruncated, "
          f"{len(records[5]['token_ids'])} after sentence-transformers truncation", file=sys.stderr)
    assert untruncated > 300, untruncated
    assert len(records[5]["token_ids"]) == model.max_seq_length

    cosines = []
    for a, b in COSINE_PAIRS:
        ea = embeddings[a].astype(np.float64)
        eb = embeddings[b].astype(np.float64)
        cos = float(ea @ eb / (np.linalg.norm(ea) * np.linalg.norm(eb)))
        cosines.append({"a": a, "b": b, "cosine": round(cos, 7)})
        print(f"cosine({a},{b}) = {cos:.7f}", file=sys.stderr)

    py = platform.python_version_tuple()
    doc = {
        "model": "all-MiniLM-L6-v2",
        "computed_with": (
            f"sentence-transformers {sentence_transformers.__version__}, "
            f"torch {torch.__version__}, Python {py[0]}.{py[1]}, CPU, normalize_embeddings=True"
        ),
        "max_seq_length": int(model.max_seq_length),
        "sentences": records,
        "cosines": cosines,
    }
    out.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
