#!/usr/bin/env python3
"""Generates the labelled helpdesk datasets under data/orgs/.

    python3 data/generate.py

writes, for three organizations (northwind-bank, parcelpoint, stackbeam),
org.json, articles.jsonl, tickets.jsonl and eval.jsonl, then validates every
file it wrote and prints a summary (breach rates, open tickets, split
counts). Python 3.11 standard library only; fixed seeds, so every run gives
byte-identical files.

The prose (help-centre articles, customer-message templates) is data beside
this script, in prose/*.json. Contents of this script, in order:
  1. constants and helpers;
  2. Northwind Bank: its articles (one per BANKING77 intent, from
     prose/bank_articles.json) and the intent -> priority mapping; tickets
     are BANKING77's test split;
  3. Parcelpoint and 4. Stackbeam: articles and customer-message templates
     (prose/{parcelpoint,stackbeam}_{articles,templates}.json);
  5. ticket text generation (slots, greetings, typos, asides, urgency cues,
     per-category priority distributions);
  6. the help-desk simulation that gives every ticket its timestamps;
  7. writing the files, validating them, printing the summary.
"""

import csv
import datetime as dt
import heapq
import json
import math
import os
import random
import re
import sys
from collections import Counter, defaultdict

DATA_DIR = os.path.dirname(os.path.abspath(__file__))
ORGS_DIR = os.path.join(DATA_DIR, "orgs")
BANKING77_CSV = os.path.join(DATA_DIR, "banking77", "test.csv")
BANKING77_CATEGORIES = os.path.join(DATA_DIR, "banking77", "categories.json")

# All timestamps are at or before the anchor; the demo shifts every time so
# that the anchor becomes "now".
ANCHOR = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
HISTORY_DAYS = 90          # tickets arrive over the 90 days before the anchor
OPEN_WINDOW_HOURS = 36     # still-open tickets were created in the last 36 h

PRIORITIES = ["low", "normal", "high", "urgent"]
STATUSES = ["new", "open", "pending", "resolved", "closed"]


PROSE_DIR = os.path.join(DATA_DIR, "prose")


def load_prose(name):
    """The articles and customer-message templates, kept as data beside this
    script (prose/*.json). A template is the article that answers it (null
    when no article does), subject variants, the body with {slot}
    placeholders, and sev=1 when the problem itself makes the ticket at
    least high priority. Article bodies are stored as lists of lines."""
    with open(os.path.join(PROSE_DIR, name), encoding="utf-8") as f:
        return json.load(f)


def load_articles(name):
    """(external_id, category, title, tags, body) per article."""
    return [(a["external_id"], a["category"], a["title"], a["tags"], "\n".join(a["body"]))
            for a in load_prose(name)]

# ---------------------------------------------------------------------------
# Northwind Bank: one help-centre article per BANKING77 intent.
# Written for this project as help-centre prose (no BANKING77 query is
# copied or paraphrased here); facts are fictional but kept consistent
# across articles (plans Standard/Plus/Premium, Mastercard debit cards,
# app tabs Home/Cards/Payments/Accounts/Profile).
# ---------------------------------------------------------------------------

BANK_ARTICLES = [(a["intent"], a["title"], a["tags"], "\n".join(a["body"]))
                 for a in load_prose("bank_articles.json")]

# Priority of a Northwind Bank ticket, by intent (BANKING77 gives none).
# urgent: money may be leaving the account without the customer's consent,
#         or the customer has lost control of a card or device;
# high:   money is stuck, missing, declined or failed, or the customer is
#         locked out of paying;
# low:    how-to and information questions;
# normal: everything else.
BANK_PRIORITY_GROUPS = {
    "urgent": [
        "lost_or_stolen_card", "compromised_card", "card_payment_not_recognised",
        "cash_withdrawal_not_recognised", "direct_debit_payment_not_recognised",
        "lost_or_stolen_phone",
    ],
    "high": [
        "declined_card_payment", "declined_cash_withdrawal", "declined_transfer",
        "failed_transfer", "top_up_failed", "top_up_reverted", "pending_card_payment",
        "pending_cash_withdrawal", "pending_top_up", "pending_transfer",
        "transfer_not_received_by_recipient", "balance_not_updated_after_bank_transfer",
        "balance_not_updated_after_cheque_or_cash_deposit", "card_swallowed", "pin_blocked",
        "transaction_charged_twice", "wrong_amount_of_cash_received", "Refund_not_showing_up",
        "reverted_card_payment?", "card_not_working", "virtual_card_not_working",
        "contactless_not_working", "unable_to_verify_identity", "passcode_forgotten",
        "beneficiary_not_allowed", "cancel_transfer",
    ],
    "low": [
        "exchange_rate", "age_limit", "fiat_currency_support", "supported_cards_and_currencies",
        "visa_or_mastercard", "country_support", "atm_support", "card_acceptance",
        "card_delivery_estimate", "top_up_limits", "disposable_card_limits",
        "why_verify_identity", "exchange_via_app", "getting_virtual_card",
        "get_disposable_virtual_card", "getting_spare_card", "order_physical_card",
        "apple_pay_or_google_pay", "automatic_top_up", "receiving_money",
        "transfer_into_account", "top_up_by_cash_or_cheque", "topping_up_by_card",
        "top_up_by_bank_transfer_charge", "top_up_by_card_charge", "exchange_charge",
        "cash_withdrawal_charge", "transfer_timing", "card_linking",
    ],
}
BANK_PRIORITY = {i: p for p, intents in BANK_PRIORITY_GROUPS.items() for i in intents}
# Every other intent is "normal" (filled in once the intents are read).

# How hard an intent is to close, as multipliers of the work before the first
# response and of the work from first response to resolution.
BANK_DIFFICULTY_GROUPS = {
    # disputes and fraud investigations
    (0.9, 2.2): ["card_payment_not_recognised", "cash_withdrawal_not_recognised",
                 "direct_debit_payment_not_recognised", "compromised_card",
                 "transaction_charged_twice", "wrong_amount_of_cash_received",
                 "request_refund", "Refund_not_showing_up", "extra_charge_on_statement"],
    # identity and compliance reviews
    (1.0, 1.8): ["unable_to_verify_identity", "verify_source_of_funds", "verify_my_identity",
                 "edit_personal_details", "terminate_account"],
    # payment traces with other banks
    (1.0, 1.5): ["transfer_not_received_by_recipient", "balance_not_updated_after_bank_transfer",
                 "balance_not_updated_after_cheque_or_cash_deposit", "failed_transfer",
                 "pending_transfer", "top_up_reverted", "beneficiary_not_allowed"],
}
BANK_DIFFICULTY = {i: m for m, intents in BANK_DIFFICULTY_GROUPS.items() for i in intents}
BANK_DIFFICULTY_INFO = (0.8, 0.5)   # every "low" (information) intent
BANK_DIFFICULTY_DEFAULT = (1.0, 1.0)

# ---------------------------------------------------------------------------
# Parcelpoint: online home-goods shop (original text for this project).
# ---------------------------------------------------------------------------

PP_ARTICLES = load_articles("parcelpoint_articles.json")

# Customer-message templates, by category. T(article, subjects, body, sev):
# article = the KB external_id that answers it (None when no article does);
# subjects separated by "|"; sev=1 means the problem itself is serious
# enough that priority is at least "high". {slots} are filled per ticket.
PP_TEMPLATES = load_prose("parcelpoint_templates.json")

# ---------------------------------------------------------------------------
# Stackbeam: cloud hosting / developer platform (original text).
# ---------------------------------------------------------------------------

SB_ARTICLES = load_articles("stackbeam_articles.json")

SB_TEMPLATES = load_prose("stackbeam_templates.json")

# ---------------------------------------------------------------------------
# 5. Ticket text generation for the synthetic organizations.
# ---------------------------------------------------------------------------

FIRST_NAMES = [
    "Olivia", "Amelia", "Isla", "Ava", "Mia", "Grace", "Sophie", "Emily", "Hannah", "Chloe",
    "Aisha", "Fatima", "Zara", "Priya", "Ananya", "Mei", "Yuki", "Sofia", "Lucia", "Elena",
    "Chiara", "Ingrid", "Freya", "Niamh", "Siobhan", "Maria", "Agnieszka", "Katarzyna", "Ioana",
    "Leila", "Nadia", "Tamar", "Rachel", "Ruth", "Joy", "Ngozi", "Adaeze", "Thandiwe", "Lerato",
    "Oliver", "George", "Harry", "Jack", "Noah", "Leo", "Oscar", "James", "Thomas", "Daniel",
    "Mohammed", "Omar", "Yusuf", "Arjun", "Rohan", "Vikram", "Wei", "Hiroshi", "Kenji", "Mateo",
    "Luca", "Marco", "Pierre", "Lukas", "Jonas", "Piotr", "Tomasz", "Andrei", "Mihai", "Ciaran",
    "Sean", "Callum", "Rhys", "Dylan", "Kwame", "Chinedu", "Tunde", "Sipho", "David", "Samuel",
    "Ben", "Alex", "Sam", "Jordan", "Chris", "Robin",
]
LAST_NAMES = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
    "Wood", "Jackson", "Clarke", "Khan", "Ahmed", "Hussain", "Ali", "Shah", "Begum", "Singh",
    "Sharma", "Gupta", "Chen", "Wang", "Li", "Nguyen", "Tanaka", "Sato", "Kim", "Park",
    "Garcia", "Rodriguez", "Fernandez", "Rossi", "Bianchi", "Romano", "Muller", "Schmidt",
    "Weber", "Novak", "Kowalski", "Nowak", "Wisniewska", "Popescu", "Ionescu", "Murphy",
    "O'Brien", "Kelly", "Byrne", "MacDonald", "Campbell", "Stewart", "Okafor", "Adeyemi",
    "Mensah", "Boateng", "Dlamini", "Nkosi", "Cohen", "Levi", "Haddad", "Mansour", "Silva",
    "Santos", "Costa", "Dubois", "Martin", "Bernard", "Larsen", "Hansen", "Nilsson", "Berg",
    "Fischer", "Moreau", "Ward", "Hughes", "Price", "Bennett",
]
CONSUMER_DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com",
                    "post.example.org", "inbox.example.net"]
SB_COMPANIES = [
    "lumenlabs", "brightpath", "quillstack", "orbitly", "fernwood", "taskharbor", "mapleforge",
    "pixelmint", "northpeak", "cobaltbay", "hivefleet", "juniperhq", "saltbox", "tidewater",
    "paperkite", "redfinch", "glasshouse", "ironleaf", "moonrail", "outpostapp", "kilnworks",
    "bluequay", "driftwood", "sparrowpay", "lanternhq", "meadowly", "copperline", "fablestudio",
    "trellisio", "gridhaven", "wavecraft", "bramblecode", "stonefly", "ember-analytics",
    "tallyup", "ridgeback", "nimbus-health", "larkspur", "orchardos", "quayside", "foxglove",
    "harbourlight", "shiftplan", "cedarbyte", "plumline", "zephyrio", "marlowe-legal",
    "kestrelhq", "openpantry", "verdantly",
]


def ascii_name(s):
    return re.sub(r"[^a-z]", "", s.lower())


class People:
    """Requesters: a pool that grows as tickets come in, so that some
    customers write more than once (as in any help desk)."""

    def __init__(self, rng, style, repeat_p):
        self.rng, self.style, self.repeat_p = rng, style, repeat_p
        self.pool = []
        self.used_emails = set()
        self.company_people = defaultdict(list)

    def _email(self, first, last, company):
        rng = self.rng
        f, l = ascii_name(first), ascii_name(last)
        for _ in range(50):
            if company is not None:
                dom = company + ".example.com"
                fmt = rng.choices(["{f}@", "{f}.{l}@", "{i}{l}@", "{f}{i2}@"], [4, 4, 2, 1])[0]
            else:
                dom = rng.choice(CONSUMER_DOMAINS)
                fmt = rng.choices(["{f}.{l}@", "{f}{l}{n}@", "{i}{l}@", "{f}_{l}@", "{f}{y}@",
                                   "{l}.{f}@", "{f}.{l}{n}@"], [5, 3, 2, 1, 2, 1, 2])[0]
            email = fmt.format(f=f, l=l, i=f[0], i2=l[0], n=rng.randint(1, 99),
                               y=rng.randint(60, 99) if rng.random() < 0.5 else rng.randint(1, 9)) + dom
            if email not in self.used_emails:
                self.used_emails.add(email)
                return email
        raise RuntimeError("could not make a unique email")

    def pick(self):
        rng = self.rng
        if self.style == "developer":
            # Companies write repeatedly (Zipf-like), each with a few people.
            weights = [1.0 / (i + 1) ** 0.9 for i in range(len(SB_COMPANIES))]
            company = rng.choices(SB_COMPANIES, weights)[0]
            people = self.company_people[company]
            if people and (len(people) >= 4 or rng.random() < 0.7):
                return rng.choice(people)
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            if rng.random() < 0.08:        # an indie developer on a personal address
                person = {"first": first, "last": last, "company": company,
                          "email": self._email(first, last, None)}
            else:
                person = {"first": first, "last": last, "company": company,
                          "email": self._email(first, last, company)}
            people.append(person)
            return person
        if self.pool and rng.random() < self.repeat_p:
            return rng.choice(self.pool)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        person = {"first": first, "last": last, "company": None,
                  "email": self._email(first, last, None)}
        self.pool.append(person)
        return person


WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _choice(values):
    return lambda rng, ctx: rng.choice(values)


def _other(slot, values):
    """A value different from the one already used for `slot`."""
    def gen(rng, ctx):
        for _ in range(20):
            v = rng.choice(values)
            if v != ctx.get(slot):
                return v
        return v
    return gen


def _order(rng, ctx):
    n = str(rng.randint(5100000, 6899999))
    return ("#" + n) if rng.random() < 0.4 else n


def _money_gbp(rng, ctx):
    if "product_big" in ctx:
        v = rng.randint(249, 1899)
    else:
        v = rng.choice([rng.randint(12, 99), rng.randint(60, 260)])
    pence = rng.choice([0, 0, 99, 95, 50, 49])
    return "£{:,}.{:02d}".format(v, pence) if pence or rng.random() < 0.5 else "£{:,}".format(v)


def _money_usd(rng, ctx):
    v = rng.choice([rng.randint(180, 900), rng.randint(900, 6000)])
    return "${:,}.{:02d}".format(v, rng.randint(0, 99))


def _weekday(rng, ctx):
    return rng.choice(WEEKDAYS)


def _when_pp(rng, ctx):
    return rng.choice(["yesterday", "on Monday", "on Tuesday", "last Thursday", "on Friday",
                       "this morning", "on Saturday", "at the weekend", "two days ago",
                       "last Wednesday", "earlier today"])


def _ago(rng, ctx):
    return rng.choice(["5 days ago", "over a week ago", "two weeks ago", "10 days ago",
                       "last week", "a week ago", "nearly 3 weeks ago", "4 days ago"])


def _postcode(rng, ctx):
    area = rng.choice(["LS", "M", "B", "BS", "NG", "SE", "N", "EH", "G", "CF", "S", "YO", "OX", "BN"])
    return "{}{} {}{}{}".format(area, rng.randint(1, 28), rng.randint(1, 9),
                                rng.choice("ABDEFGHJLNPQRSTUWXYZ"), rng.choice("ABDEFGHJLNPQRSTUWXYZ"))


def _street(rng, ctx):
    return "{} {}".format(rng.randint(1, 140), rng.choice([
        "Rowan Close", "Mill Lane", "Station Road", "Victoria Street", "Oakfield Avenue",
        "Church Street", "Highfield Road", "Elm Grove", "Kingsway", "Queens Road",
        "Albert Terrace", "Meadow View", "Park Crescent", "Harbour Street"]))


def _email_alt(rng, ctx):
    f, l = ascii_name(ctx.get("first", "sam")), ascii_name(ctx.get("last", "lee"))
    return "{}.{}{}@{}".format(f, l, rng.randint(1, 99), rng.choice(CONSUMER_DOMAINS))


PP_PRODUCTS = [
    "set of 4 linen napkins", "bamboo bath towel bundle", "Atlas floor lamp", "stoneware dinner set",
    "velvet cushion cover", "rattan laundry basket", "knife block set", "Nordic wall clock",
    "glass storage jars (set of 6)", "cotton waffle bedspread", "ceramic table lamp",
    "oak chopping board", "wool throw in mustard", "copper kettle", "shower curtain and rail set",
    "bedside table in ash", "bookshelf (5 tier)", "jute doormat", "espresso cup set",
    "blackout curtains 168x183", "rotary airer", "bathroom mirror cabinet", "duvet cover set (king)",
]
PP_BIG = [
    "Oslo 3-seater sofa", "Harlow oak dining table", "Fenwick corner sofa", "Ashby king bed frame",
    "Larsen wardrobe", "Marlow chest of drawers", "Brook 2-seater sofa in sage", "Hartley ottoman bed",
    "set of 4 Nordic dining chairs", "Quinn sideboard", "Elsie armchair", "Tate extending table",
    "Rowan bunk bed", "Camden sofa bed",
]
PP_SLOTS = {
    "order": _order, "order2": _order,
    "product": _choice(PP_PRODUCTS), "product2": _other("product", PP_PRODUCTS),
    "product_big": _choice(PP_BIG),
    "product_lamp": _choice(["Atlas floor lamp", "ceramic table lamp", "arc floor lamp",
                             "rattan pendant light", "brass desk lamp"]),
    "product_pan": _choice(["non-stick frying pan", "28cm saute pan", "non-stick wok",
                            "3-piece saucepan set", "cast iron casserole dish"]),
    "product_rug": _choice(["wool rug 160x230", "jute runner", "Berber-style rug", "washable hallway rug"]),
    "product_mirror": _choice(["round mirror 80cm", "full-length floor mirror", "arched wall mirror"]),
    "product_pillow": _choice(["memory foam pillows", "hotel-quality pillows", "duck feather pillows"]),
    "ago": _ago, "when": _when_pp,
    "days": _choice(["4", "5", "6", "three", "five", "7"]),
    "amount": _money_gbp,
    "courier": _choice(["DPD", "Evri", "Royal Mail", "the courier", "DPD", "Evri"]),
    "weekday": _weekday, "weekday2": _other("weekday", WEEKDAYS),
    "months": _choice(["3 months", "5 months", "about 8 months", "10 months", "6 months", "a year"]),
    "code": _choice(["WELCOME10", "SPRING20", "FREESHIP50", "HOME15", "BEDROOM25", "EXTRA5",
                     "SAVE10NOW", "VIP20", "COSY15"]),
    "pay_err": _choice(["Payment could not be authorised", "Your card was declined (code 05)",
                        "Something went wrong, please try again (P-402)",
                        "3D Secure authentication failed", "Billing address does not match",
                        "Transaction not permitted"]),
    "n4": lambda rng, ctx: str(rng.randint(1000, 9999)),
    "email_alt": _email_alt, "street": _street, "postcode": _postcode,
    "town": _choice(["Leeds", "Bristol", "Nottingham", "Manchester", "Cardiff", "York", "Brighton",
                     "Sheffield", "Norwich", "Reading", "Glasgow", "Exeter"]),
    "town2": _choice(["Belfast", "the Isle of Skye", "Inverness", "Kirkwall", "Newry",
                      "the Isle of Wight", "Stornoway"]),
}

SB_APPS = ["checkout-api", "marketing-site", "web", "api", "billing-worker", "admin-dashboard",
           "search-service", "notifications", "app-frontend", "orders-svc", "auth-gateway",
           "reports-worker", "storefront", "graphql-gateway", "ingest"]
SB_BUILD_ERRORS = [
    "npm ERR! code ELIFECYCLE\nnpm ERR! errno 137",
    "error: build exceeded memory limit (2048 MB)",
    "ERROR: Could not find a version that satisfies the requirement torch==2.3.0",
    "ERR_PNPM_OUTDATED_LOCKFILE Cannot install with \"frozen-lockfile\" because pnpm-lock.yaml is not up to date",
    "Error: Cannot find module 'sharp'",
    "error TS2307: Cannot find module '@acme/ui' or its corresponding type declarations.",
    "go: github.com/acme/internal@v1.4.2: reading github.com/acme/internal: 410 Gone",
    "Bundler::GemNotFound: Could not find nokogiri-1.16.2 in locally installed gems",
    "==> Build failed: exit status 1 (step: install dependencies)",
]
SB_SSL_ERRORS = ["NET::ERR_CERT_DATE_INVALID", "ERR_SSL_PROTOCOL_ERROR",
                 "NET::ERR_CERT_COMMON_NAME_INVALID", "SSL_ERROR_BAD_CERT_DOMAIN",
                 "'Your connection is not private'"]
SB_DB_ERRORS = [
    "FATAL: sorry, too many clients already",
    "FATAL: too many connections for role \"app\"",
    "FATAL: remaining connection slots are reserved for non-replication superuser connections",
    "SequelizeConnectionAcquireTimeoutError: Operation timeout",
    "psycopg2.OperationalError: connection to server failed: FATAL: too many connections",
    "PrismaClientInitializationError: Timed out fetching a new connection from the connection pool",
]


def _apex(rng, ctx):
    return (ctx.get("company") or rng.choice(SB_COMPANIES)) + ".example"


def _domain(rng, ctx):
    if "apex" not in ctx:
        ctx["apex"] = _apex(rng, ctx)
    return rng.choice(["www.", "app.", "shop.", "api.", "", "dashboard."]) + ctx["apex"]


SB_SLOTS = {
    "app": _choice(SB_APPS),
    "region": _choice(["lon1", "fra1", "ams1", "nyc1", "sfo1", "sgp1", "syd1", "fra1", "nyc1"]),
    "plan": _choice(["Pro", "Team", "Pro", "Team", "Enterprise", "Starter"]),
    "build_err": _choice(SB_BUILD_ERRORS),
    "when": _choice(["yesterday", "this morning", "on Tuesday", "last night", "around 14:00 UTC",
                     "on Friday", "two days ago", "since the weekend", "an hour ago"]),
    "apex": _apex, "domain": _domain,
    "time_utc": lambda rng, ctx: "{:02d}:{:02d}".format(rng.randint(0, 23), rng.randrange(0, 60, 5)),
    "weekday": _weekday,
    "invoice": lambda rng, ctx: "INV-2026-{:05d}".format(rng.randint(1000, 48000)),
    "amount_usd": _money_usd,
    "vat": lambda rng, ctx: "{:09d}".format(rng.randint(100000000, 999999999)),
    "ssl_err": _choice(SB_SSL_ERRORS),
    "db_err": _choice(SB_DB_ERRORS),
    "company": lambda rng, ctx: rng.choice(SB_COMPANIES),
}
LITERAL_BRACES = {"id"}   # "{id}" in an API path is text, not a slot
SLOT_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def fill(text, slots, rng, ctx):
    def rep(m):
        name = m.group(1)
        if name in LITERAL_BRACES:
            return m.group(0)
        if name not in ctx:
            if name not in slots:
                raise KeyError("unknown slot {%s} in %r" % (name, text))
            ctx[name] = slots[name](rng, ctx)
        return ctx[name]
    return SLOT_RE.sub(rep, text)


# Priority distributions per category (probabilities of low, normal, high,
# urgent). A ticket's priority is drawn from its category's distribution;
# templates describing a serious problem (sev=1) are raised to at least high.
PP_PRIORITY_DIST = {
    "order_status":     (0.25, 0.60, 0.13, 0.02),
    "delivery_problem": (0.05, 0.55, 0.32, 0.08),
    "damaged_item":     (0.05, 0.55, 0.33, 0.07),
    "return_refund":    (0.15, 0.65, 0.17, 0.03),
    "payment_failed":   (0.05, 0.45, 0.38, 0.12),
    "promo_code":       (0.45, 0.50, 0.05, 0.00),
    "account_login":    (0.15, 0.55, 0.25, 0.05),
    "product_question": (0.60, 0.37, 0.03, 0.00),
    "cancellation":     (0.05, 0.50, 0.38, 0.07),
    "address_change":   (0.02, 0.45, 0.43, 0.10),
}
SB_PRIORITY_DIST = {
    "deploy_failed":        (0.03, 0.40, 0.42, 0.15),
    "outage":               (0.00, 0.10, 0.35, 0.55),
    "billing":              (0.35, 0.55, 0.09, 0.01),
    "dns_domains":          (0.10, 0.55, 0.30, 0.05),
    "ssl_certificates":     (0.05, 0.45, 0.38, 0.12),
    "api_rate_limits":      (0.10, 0.50, 0.32, 0.08),
    "database_connections": (0.02, 0.35, 0.43, 0.20),
    "sso_login":            (0.08, 0.50, 0.32, 0.10),
    "performance":          (0.10, 0.50, 0.33, 0.07),
    "feature_request":      (0.75, 0.24, 0.01, 0.00),
}
# Probability that the customer adds an urgency cue, by the ticket's
# priority: mostly on urgent/high tickets, but not only (customers who call
# everything urgent exist).
CUE_P = {"urgent": 0.65, "high": 0.35, "normal": 0.07, "low": 0.03}

PP_CUES = ["This is urgent.", "Please reply ASAP.", "I need this sorted today please.",
           "This is the third time I've contacted you about this.",
           "Please call me back as soon as possible.",
           "We're moving out on {weekday} so this is time sensitive.",
           "It's a present and I need it by {weekday}.",
           "I've been waiting for a reply for 2 days now.", "URGENT please!!",
           "If this isn't resolved today I'll be contacting my bank."]
SB_CUES = ["This is blocking production.", "Customers can't check out right now.",
           "Please escalate ASAP.", "Production is down for us.",
           "We have a launch tomorrow morning.", "This is costing us money every minute.",
           "Urgent - please page someone.", "Our own customers' SLAs are at risk.",
           "Need an answer today please.", "Our whole team is blocked on this."]

# Asides carrying another category's vocabulary (a refund question that
# mentions the delivery, a DNS question that mentions the plan, ...). A
# ticket gets at most one, always from a category other than its own.
PP_ASIDES = {
    "order_status": ["I got the dispatch email {when}.", "The order number is {order} if you need it."],
    "delivery_problem": ["The courier was {courier} if that helps.",
                         "Delivery has always been fine with you before."],
    "damaged_item": ["Last time an item arrived damaged and you sorted it quickly, so fingers crossed.",
                     "The box was a bit battered but that's fine."],
    "return_refund": ["I've returned things before with no problem.",
                      "I don't want a refund, just an answer."],
    "payment_failed": ["I paid with PayPal.", "I paid with Pay in 3 if that makes a difference.",
                       "It was paid on my credit card."],
    "promo_code": ["I used the code {code} on this order.", "I bought it in the sale."],
    "account_login": ["I checked out as a guest, I don't have an account.",
                      "My account email is {email_alt}."],
    "product_question": ["I love the {product} I bought last year by the way.",
                         "The {product_big} itself is lovely."],
    "cancellation": ["I don't want to cancel anything, just need an answer."],
    "address_change": ["My address is {street}, {town} {postcode}.",
                       "I've moved recently so please use my new address."],
}
SB_ASIDES = {
    "deploy_failed": ["Our last deploy was {when} and went through fine.",
                      "We deploy from GitHub on every merge to main."],
    "outage": ["The status page shows everything green.",
               "We had a short outage last month too but that was on us."],
    "billing": ["We're on the {plan} plan.", "Our invoices are all paid up to date."],
    "dns_domains": ["DNS is managed at our registrar.", "The custom domain is {domain}."],
    "ssl_certificates": ["HTTPS and certificates are all fine."],
    "api_rate_limits": ["We call your API from our CI pipeline."],
    "database_connections": ["We use the managed Postgres add-on.",
                             "The database is in the same region."],
    "sso_login": ["We log in through Okta SSO.", "Everyone on the team has 2FA enabled."],
    "performance": ["Latency has been normal otherwise.", "We run 3 instances of {app}."],
    "feature_request": ["Would be great if the dashboard showed this more clearly, by the way."],
}
PP_GREETINGS = ["Hi,", "Hello,", "Hi there,", "Hello Parcelpoint,", "Good morning,",
                "Good afternoon,", "Hiya,", "Dear Sir/Madam,", "Hi team,", "Hey,"]
SB_GREETINGS = ["Hi,", "Hello,", "Hi team,", "Hey folks,", "Hi Stackbeam support,",
                "Hello there,", "Good morning,", "Hey,"]
PP_SIGNOFFS = ["Thanks,\n{first}", "Thank you,\n{first} {last}", "Kind regards,\n{first} {last}",
               "Many thanks\n{first}", "Cheers, {first}", "Thanks in advance", "Regards,\n{i}. {last}",
               "{first}\n\nSent from my iPhone", "Thanks", "Thank you"]
SB_SIGNOFFS = ["Thanks,\n{first}", "Cheers,\n{first}", "Best,\n{first} {last}\n{Company} engineering",
               "Thanks!", "-- {first}", "Regards,\n{first} {last}\nCTO, {Company}",
               "Thanks in advance,\n{first}", "Thanks\n{first} ({Company})"]
PP_GENERIC_SUBJECTS = ["Help please", "Question", "Problem with my order", "Order {order}",
                       "Customer service", "Complaint", "Please help"]
SB_GENERIC_SUBJECTS = ["Help", "Question", "Issue with {app}", "Support request", "Problem",
                       "Need help with our service"]
COMMON_TYPOS = {"received": "recieved", "definitely": "definately", "address": "adress",
                "separate": "seperate", "tomorrow": "tommorow", "because": "becuase",
                "delivery": "delievery", "payment": "paymnet", "cancelled": "canceled",
                "wrong": "wrnog", "account": "acount", "minutes": "mins", "please": "pls",
                "working": "wokring", "certificate": "certficate", "instances": "instnaces"}


def add_typos(text, rng, n):
    words = list(re.finditer(r"[A-Za-z]{4,}", text))
    if not words:
        return text
    chosen = sorted(rng.sample(range(len(words)), min(n, len(words))), reverse=True)
    for k in chosen:
        m = words[k]
        w = m.group(0)
        if w.lower() in COMMON_TYPOS and w.islower():
            new = COMMON_TYPOS[w]
        else:
            i = rng.randint(1, len(w) - 2)
            op = rng.choice(["swap", "drop", "double"])
            if op == "swap":
                new = w[:i] + w[i + 1] + w[i] + w[i + 2:]
            elif op == "drop":
                new = w[:i] + w[i + 1:]
            else:
                new = w[:i] + w[i] + w[i:]
        text = text[:m.start()] + new + text[m.end():]
    return text


def draw_priority(rng, dist):
    return rng.choices(PRIORITIES, dist)[0]


def compose_ticket(org, category, tmpl, person, rng):
    """Subject, body and priority of one synthetic ticket."""
    slots, cues, asides = org["slots"], org["cues"], org["asides"]
    ctx = {"first": person["first"], "last": person["last"]}
    if person.get("company"):
        ctx["company"] = person["company"]
    body = fill(tmpl["body"], slots, rng, ctx)
    priority = draw_priority(rng, org["priority_dist"][category])
    if tmpl["sev"] and PRIORITIES.index(priority) < PRIORITIES.index("high"):
        priority = "high"
    short = len(body) < 60
    # An aside with another category's words.
    if rng.random() < (0.08 if short else 0.2):
        other = rng.choice(sorted(c for c in asides if c != category))
        body = body.rstrip() + " " + fill(rng.choice(asides[other]), slots, rng, ctx)
    # An urgency cue.
    cue = None
    if rng.random() < CUE_P[priority]:
        cue = fill(rng.choice(cues), slots, rng, ctx)
        body = (cue + " " + body) if rng.random() < 0.35 else (body.rstrip() + " " + cue)
    # Writing habits: typos in the customer's own text, all lowercase or no
    # full stops for some writers.
    if rng.random() < 0.16:
        body = add_typos(body, rng, rng.choice([1, 1, 2, 3]))
    habit = rng.random()
    # Greeting and sign-off.
    if rng.random() < (0.12 if short else 0.45):
        g = rng.choice(org["greetings"])
        body = g + ("\n\n" if rng.random() < 0.6 else " ") + body
    if rng.random() < (0.1 if short else 0.45):
        company = (person.get("company") or "").split("-")[0].capitalize()
        s = rng.choice(org["signoffs"]).format(first=person["first"], last=person["last"],
                                                i=person["first"][0], Company=company)
        body = body.rstrip() + "\n\n" + s
    if habit < 0.08:
        body = body.lower()
    elif habit < 0.13:
        body = re.sub(r"\.(?=\s|$)", "", body)
    # Subject.
    if rng.random() < 0.06:
        subject = fill(rng.choice(org["generic_subjects"]), slots, rng, ctx)
    else:
        subject = fill(rng.choice(tmpl["subjects"]), slots, rng, ctx)
    r = rng.random()
    if r < 0.1:
        subject = subject.lower()
    elif r < 0.13:
        subject = "Re: " + subject
    if cue and priority in ("urgent", "high") and rng.random() < 0.3:
        subject = rng.choice(["URGENT: ", "Urgent - ", "ASAP: "]) + subject
    return subject, body, priority


def template_schedule(templates, n, null_weight, rng):
    """Which template each of a category's n tickets uses: counts
    proportional to the weights (1 for templates with an article,
    null_weight for those without), largest remainder, in random order."""
    w = [null_weight if t["article"] is None else 1.0 for t in templates]
    total = sum(w)
    quotas = [n * x / total for x in w]
    counts = [int(q) for q in quotas]
    order = sorted(range(len(w)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    seq = [i for i, c in enumerate(counts) for _ in range(c)]
    rng.shuffle(seq)
    return seq


# ---------------------------------------------------------------------------
# 6. The help-desk simulation: arrival times, first response, resolution.
# ---------------------------------------------------------------------------
#
# Arrivals: each ticket (in a random order of the tickets, independent of
# file order, so the train/holdout split is not a time split) gets a creation
# minute drawn by rejection sampling from an intensity = day-of-week factor x
# hour-of-day profile (weekday or weekend) x holiday factor x the day's
# volume factor (busy and quiet spells: an AR(1) process, plus seasonal
# factors such as the shop's Christmas rush) over the 90 days before the
# anchor. 4.5% of tickets, chosen at random, are the ones left open at the
# anchor: they are created in the last 36 hours. Half of Stackbeam's outage
# tickets cluster in the hour after one of 4 platform incidents.
#
# Work: tickets are processed in creation order. At each creation we count
# the tickets still open (created earlier, not yet resolved) and divide by
# the agents on duty that day (leave weeks, sick days, a holiday rota), and
# the ticket's work times are
#     first-response work = median_fr[priority] * fr_mult[category] * L * exp(0.8 z1)
#     resolution work     = median_res[priority] * res_mult[category] * L * exp(0.8 z2)
#     L = ((open_per_agent + 1) / (mean_open_per_agent + 1)) ** 0.8
# in working minutes, converted to wall-clock time through the org's staffed
# hours (urgent tickets are worked around the clock where the org has an
# on-call rota). A share of tickets is resolved in the first reply; 30% of
# the others wait for the customer (a lognormal wall-clock wait, median 5 h)
# before the resolution work. mean_open_per_agent is calibrated by a damped
# fixed-point iteration, so L is about 1 on average; since L feeds back into
# the backlog, busy spells and short-staffed days snowball as they do in a
# real queue, and backlog genuinely predicts lateness. A ticket that is not
# one of the open ones and whose simulated resolution would fall after the
# anchor is resimulated with fresh draws until it fits (after 100 tries it is
# squeezed in), so every ticket created before the last 36 hours is closed.
# Resolved tickets become "closed" (90%) once resolved more than 4 days
# before the anchor. Open tickets are "new" without a first response, else
# "open" (55%) or "pending" (waiting on the customer).

HOUR_WEEKDAY = [0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.2, 2.2, 3.0, 3.2, 3.0,
                2.6, 2.8, 2.9, 2.7, 2.4, 2.0, 1.6, 1.4, 1.2, 1.0, 0.7, 0.4]
HOUR_WEEKEND = [0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.0, 1.5, 1.8, 1.9,
                1.8, 1.7, 1.6, 1.5, 1.4, 1.3, 1.2, 1.2, 1.1, 0.9, 0.7, 0.5]
HOLIDAYS = {(12, 24): 0.6, (12, 25): 0.3, (12, 26): 0.5, (12, 31): 0.7, (1, 1): 0.4}
LOAD_EXPONENT = 0.8
LOAD_OFFSET = 1.0
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def to_min(t):
    return int((t - EPOCH).total_seconds() // 60)


def from_min(m):
    return EPOCH + dt.timedelta(minutes=m)


def fmt_min(m):
    return from_min(m).strftime("%Y-%m-%dT%H:%M:00Z")


def intensity(m, dow_factor, day_factor):
    t = from_min(m)
    wd = t.weekday()
    hours = HOUR_WEEKDAY if wd < 5 else HOUR_WEEKEND
    return (dow_factor[wd] * hours[t.hour] * HOLIDAYS.get((t.month, t.day), 1.0)
            * day_factor.get(m // 1440, 1.0))


def sample_arrival(rng, lo, hi, dow_factor, day_factor):
    top = max(dow_factor) * max(HOUR_WEEKDAY + HOUR_WEEKEND) * max(day_factor.values())
    while True:
        m = rng.randrange(lo, hi)
        if rng.random() * top < intensity(m, dow_factor, day_factor):
            return m


def day_factors(rng, cfg, first_day, last_day):
    """Busy and quiet spells: a day's arrival volume is multiplied by
    exp(x), x an AR(1) process (x_d = 0.75 x_(d-1) + N(0, sd)), and by the
    org's seasonal factors (e.g. the shop's Christmas rush)."""
    out, x = {}, 0.0
    for d in range(first_day, last_day + 1):
        x = 0.75 * x + rng.gauss(0, cfg["volume_sd"])
        date = from_min(d * 1440).date()
        f = math.exp(x)
        for lo, hi, season in cfg.get("seasons", []):
            if lo <= (date.month, date.day) <= hi or (lo > hi and ((date.month, date.day) >= lo
                                                                 or (date.month, date.day) <= hi)):
                f *= season
        out[d] = f
    return out


def staffing(rng, cfg, first_day, last_day):
    """Agents on duty per day: each agent takes a week of leave starting on
    a given Monday with probability 8%, is otherwise away on a given day with
    probability 4% (sickness), and the org's holiday rota applies."""
    n = len(cfg["agents"])
    leave = [set() for _ in range(n)]
    for a in range(n):
        for d in range(first_day, last_day + 1):
            if from_min(d * 1440).weekday() == 0 and rng.random() < 0.08:
                leave[a].update(range(d, d + 7))
    out = {}
    for d in range(first_day, last_day + 1):
        date = from_min(d * 1440).date()
        on = sum(d not in leave[a] and rng.random() >= 0.04 for a in range(n))
        for lo, hi, frac in cfg.get("rota", []):
            if lo <= (date.month, date.day) <= hi or (lo > hi and ((date.month, date.day) >= lo
                                                                 or (date.month, date.day) <= hi)):
                on = min(on, round(n * frac))
        out[d] = max(2, on)
    return out


def add_work(t, work, calendar):
    """Wall-clock minute at which `work` working minutes started at minute t
    are done, working only inside the calendar's windows (None = 24/7)."""
    if calendar is None:
        return t + work
    t = float(t)
    while True:
        day = t - (t % 1440)
        wd = from_min(int(day)).weekday()
        for a, b in calendar[wd]:
            ws, we = day + a * 60, day + b * 60
            if t < we:
                s = max(t, ws)
                if work <= we - s:
                    return s + work
                work -= we - s
                t = we
        t = day + 1440


def simulate(cfg, tickets, rng):
    n = len(tickets)
    anchor = to_min(ANCHOR)
    start = anchor - HISTORY_DAYS * 1440
    open_from = anchor - OPEN_WINDOW_HOURS * 60
    order = list(range(n))
    rng.shuffle(order)
    forced = set(order[: round(n * cfg["open_fraction"])])
    incidents = []
    if cfg.get("incident_category"):
        for _ in range(cfg["incidents"]):
            while True:
                m = rng.randrange(start + 1440, open_from - 3 * 1440)
                t = from_min(m)
                if t.weekday() < 5 and 8 <= t.hour < 18:
                    incidents.append(m)
                    break
    dayf = day_factors(rng, cfg, start // 1440, anchor // 1440)
    on_duty = staffing(rng, cfg, start // 1440, anchor // 1440)
    created = [0] * n
    for i in order:
        if i in forced:
            created[i] = sample_arrival(rng, open_from, anchor, cfg["dow_factor"], dayf)
        elif (incidents and tickets[i]["category"] == cfg["incident_category"]
              and rng.random() < cfg["incident_share"]):
            created[i] = min(anchor - 1, rng.choice(incidents) + int(rng.expovariate(1 / 35.0)))
        else:
            created[i] = sample_arrival(rng, start, anchor, cfg["dow_factor"], dayf)
    draws = [(rng.gauss(0, 1), rng.gauss(0, 1), rng.random(), rng.random(), rng.gauss(0, 1),
              rng.random()) for _ in range(n)]
    seq = sorted(range(n), key=lambda i: (created[i], i))

    def run(ref):
        resim = random.Random(cfg["seed"] * 7919)
        heap, out, opas = [], [None] * n, []
        refits = squeezed = 0
        for i in seq:
            t = created[i]
            while heap and heap[0] <= t:
                heapq.heappop(heap)
            opa = len(heap) / on_duty[t // 1440]
            opas.append(opa)
            load = ((opa + LOAD_OFFSET) / (ref + LOAD_OFFSET)) ** LOAD_EXPONENT
            prio, cat = tickets[i]["priority"], tickets[i]["category"]
            fr_mult, res_mult = cfg["difficulty"](cat)
            cal = None if (prio == "urgent" and cfg["urgent_24_7"]) else cfg["calendar"]
            z1, z2, u_quick, u_wait, z3, u_status = draws[i]
            for attempt in range(100):
                fr_work = cfg["median_fr"][prio] * fr_mult * load * math.exp(cfg["sigma_fr"] * z1)
                fr = max(t + 1, math.ceil(add_work(t, fr_work, cal)))
                if u_quick < cfg["quick_p"]:
                    res = fr + 1 + int(14 * u_wait)
                else:
                    wait = math.exp(math.log(300) + z3) if u_wait < 0.3 else 0.0
                    res_work = cfg["median_res"][prio] * res_mult * load * math.exp(cfg["sigma_res"] * z2)
                    res = max(fr, math.ceil(add_work(fr + wait, res_work, cal)))
                if i in forced or res <= anchor or t >= open_from:
                    break
                refits += 1
                z1, z2, u_quick, u_wait, z3 = (resim.gauss(0, 1), resim.gauss(0, 1), resim.random(),
                                              resim.random(), resim.gauss(0, 1))
            else:
                # Still past the anchor: squeeze it in (rare; counted).
                squeezed += 1
                res = t + int((anchor - t) * (0.5 + 0.45 * u_status))
                fr = min(fr, t + max(1, (res - t) // 3))
            if i in forced:
                res = anchor + 10 ** 7          # still open: counts as backlog
            heapq.heappush(heap, res)
            out[i] = (fr, res, opa, u_status)
        return out, sum(opas) / len(opas), (refits, squeezed)

    ref = 1.0
    for _ in range(12):
        _, mean_opa, _ = run(ref)
        ref = 0.5 * ref + 0.5 * mean_opa
    out, mean_opa, refits = run(ref)
    results = []
    for i in range(n):
        fr, res, opa, u = out[i]
        t = created[i]
        if res <= anchor:
            closed = res < anchor - 4 * 1440 and u < 0.9
            results.append({"created": t, "fr": fr, "res": res,
                            "status": "closed" if closed else "resolved", "opa": opa})
        else:
            if fr > anchor:
                results.append({"created": t, "fr": None, "res": None, "status": "new", "opa": opa})
            else:
                results.append({"created": t, "fr": fr, "res": None,
                                 "status": "open" if u < 0.55 else "pending", "opa": opa})
    return results, {"load_reference": ref, "refits": refits[0], "squeezed": refits[1]}


def alternative_lateness(cfg, tickets, rng):
    """Other timelines for the same tickets (same creation times), drawn by
    a mechanism the SLA model does not assume, so that the evaluation can
    tell how much of its gain only recovers this generator's own
    assumptions. `simulate` works on staffed calendars and scales waits by
    the backlog to the power LOAD_EXPONENT, the same forms SLA_PREDICT
    uses (its working clock and load factor); here instead waits run on
    the wall clock, 24/7, ignore the backlog, and come from other families:
    a Weibull first response (shape 0.7: most answers come quickly, the
    rest late) with a heavy Pareto tail for one ticket in twelve
    (forgotten in a queue), a gamma-distributed resolution after it, and
    one random slowdown per calendar week that hits every ticket of that
    week alike. One scale for the whole organization is tuned so that the
    share of resolved tickets breaching their SLA matches the main
    timelines' (the base rate stays comparable)."""
    anchor = to_min(ANCHOR)
    weeks = {}
    draws = []
    for t in tickets:
        week = (t["created"] // 1440 + 3) // 7
        if week not in weeks:
            weeks[week] = math.exp(rng.gauss(0, 0.4))
        draws.append((rng.random(), rng.random(), rng.random(), rng.gammavariate(0.8, 1.25),
                      rng.random()))

    def timeline(scale):
        out = []
        for t, (u_fr, u_tail, u_pareto, g_res, u_status) in zip(tickets, draws):
            prio, cat = t["priority"], t["category"]
            fr_mult, res_mult = cfg["difficulty"](cat)
            slow = weeks[(t["created"] // 1440 + 3) // 7]
            # Weibull(k = 0.7) with median 1.
            weib = (-math.log(1 - u_fr) / math.log(2)) ** (1 / 0.7)
            tail = (1 - u_pareto) ** (-1 / 1.2) if u_tail < 1 / 12 else 1.0
            fr = t["created"] + max(1, math.ceil(
                scale * cfg["median_fr"][prio] * fr_mult * slow * weib * tail))
            res = fr + 1 + math.ceil(scale * cfg["median_res"][prio] * res_mult * slow * g_res)
            out.append((fr, res, u_status))
        return out

    def breach_share(tl):
        b = r = 0
        for t, (fr, res, _) in zip(tickets, tl):
            if res <= anchor:
                r += 1
                b += breach_of({"created": t["created"], "fr": fr, "res": res,
                                "priority": t["priority"]}, cfg["sla"])
        return b / max(r, 1)

    target = sum(breach_of(t, cfg["sla"]) for t in tickets if t["res"] is not None) / max(
        1, sum(t["res"] is not None for t in tickets))
    lo, hi = 0.05, 20.0
    for _ in range(40):     # the breach share grows with the scale
        mid = math.sqrt(lo * hi)
        if breach_share(timeline(mid)) < target:
            lo = mid
        else:
            hi = mid
    results = []
    for t, (fr, res, u) in zip(tickets, timeline(math.sqrt(lo * hi))):
        if res <= anchor:
            closed = res < anchor - 4 * 1440 and u < 0.9
            results.append({"external_id": t["external_id"],
                            "status": "closed" if closed else "resolved",
                            "first_response_at": fmt_min(fr), "resolved_at": fmt_min(res)})
        elif fr > anchor:
            results.append({"external_id": t["external_id"], "status": "new",
                            "first_response_at": None, "resolved_at": None})
        else:
            results.append({"external_id": t["external_id"],
                            "status": "open" if u < 0.55 else "pending",
                            "first_response_at": fmt_min(fr), "resolved_at": None})
    return results


def breach_of(ticket, sla):
    """True/False for a resolved ticket; None for an open one."""
    pol = sla[ticket["priority"]]
    if ticket["res"] is None:
        return None
    return (ticket["fr"] - ticket["created"] > pol["first_response_minutes"]
            or ticket["res"] - ticket["created"] > pol["resolution_minutes"])

# ---------------------------------------------------------------------------
# 7. Organizations, writing, validation, summary.
# ---------------------------------------------------------------------------

def sla(*rows):
    return {p: {"priority": p, "first_response_minutes": fr, "resolution_minutes": res}
            for p, fr, res in rows}


def week(weekday_windows, saturday, sunday):
    return [weekday_windows] * 5 + [saturday, sunday]


def _difficulty_table(table):
    return lambda cat: table[cat]


def _bank_difficulty(intent):
    if intent in BANK_DIFFICULTY:
        return BANK_DIFFICULTY[intent]
    if BANK_PRIORITY.get(intent) == "low":
        return BANK_DIFFICULTY_INFO
    return BANK_DIFFICULTY_DEFAULT


ORGS = [
    {
        "slug": "northwind-bank", "name": "Northwind Bank", "prefix": "NWB", "seed": 7701,
        "business": "Mobile-first online bank: current accounts in 29 currencies, Mastercard "
                    "debit and virtual cards, transfers and currency exchange in the app.",
        "agents": [("Amira Haddad", "amira.haddad"), ("Tom Fletcher", "tom.fletcher"),
                   ("Joanna Kowalczyk", "joanna.kowalczyk"), ("Daniel Osei", "daniel.osei"),
                   ("Priya Raman", "priya.raman"), ("Liam Gallagher", "liam.gallagher"),
                   ("Sofia Marino", "sofia.marino"), ("Ethan Brooks", "ethan.brooks")],
        "agent_domain": "northwind.example",
        "settings": {"triage_auto_apply": False},
        "sla": sla(("urgent", 30, 480), ("high", 240, 1440), ("normal", 1440, 4320),
                   ("low", 2880, 7200)),
        # Staffed 07-21 UTC on weekdays, 09-17 at weekends; a 24/7 card line
        # handles urgent tickets.
        "calendar": week([(7, 21)], [(9, 17)], [(9, 17)]), "urgent_24_7": True,
        "dow_factor": [1.2, 1.1, 1.05, 1.0, 1.0, 0.75, 0.65],
        "median_fr": {"urgent": 5, "high": 18, "normal": 185, "low": 690},
        "median_res": {"urgent": 110, "high": 195, "normal": 885, "low": 1250},
        "sigma_fr": 0.8, "sigma_res": 0.8, "quick_p": 0.35, "open_fraction": 0.045,
        "volume_sd": 0.35, "seasons": [((12, 15), (12, 23), 1.2), ((1, 2), (1, 9), 1.2)],
        "rota": [((12, 23), (1, 2), 0.6)],
        "difficulty": _bank_difficulty,
    },
    {
        "slug": "parcelpoint", "name": "Parcelpoint", "prefix": "PP", "seed": 4242,
        "business": "Online home-goods shop: furniture, bedding, kitchen and decor, delivered "
                    "by courier or two-person furniture delivery across the UK.",
        "agents": [("Megan Clarke", "megan.clarke"), ("Raj Mehta", "raj.mehta"),
                   ("Ellie Turner", "ellie.turner"), ("Kofi Asante", "kofi.asante"),
                   ("Hannah Price", "hannah.price"), ("Marek Zielinski", "marek.zielinski")],
        "agent_domain": "parcelpoint.example",
        "settings": {"triage_auto_apply": True},
        "sla": sla(("urgent", 240, 1440), ("high", 720, 2880), ("normal", 1440, 5760),
                   ("low", 2880, 10080)),
        # Staffed Mon-Fri 08-18, Sat 09-17, Sun 10-16 UTC; no on-call.
        "calendar": week([(8, 18)], [(9, 17)], [(10, 16)]), "urgent_24_7": False,
        "dow_factor": [1.25, 1.1, 1.05, 1.0, 0.95, 0.75, 0.85],
        "median_fr": {"urgent": 10, "high": 45, "normal": 250, "low": 430},
        "median_res": {"urgent": 90, "high": 220, "normal": 735, "low": 860},
        "sigma_fr": 0.8, "sigma_res": 0.8, "quick_p": 0.3, "open_fraction": 0.045,
        "volume_sd": 0.35, "seasons": [((12, 1), (12, 22), 1.35), ((12, 27), (1, 12), 1.4)],
        "rota": [((12, 24), (1, 1), 0.5)],
        "difficulty": _difficulty_table({
            "order_status": (0.9, 0.6), "delivery_problem": (1.0, 1.6),
            "damaged_item": (1.0, 1.5), "return_refund": (1.0, 1.3),
            "payment_failed": (0.8, 0.9), "promo_code": (1.1, 0.5),
            "account_login": (0.9, 0.7), "product_question": (1.2, 0.6),
            "cancellation": (0.8, 0.7), "address_change": (0.7, 0.6)}),
        "category_sizes": {"order_status": 58, "delivery_problem": 56, "return_refund": 54,
                           "damaged_item": 50, "payment_failed": 44, "product_question": 42,
                           "cancellation": 40, "address_change": 36, "promo_code": 36,
                           "account_login": 34},
        "articles": PP_ARTICLES, "templates": PP_TEMPLATES, "null_weight": 0.75,
        "slots": PP_SLOTS, "cues": PP_CUES, "asides": PP_ASIDES,
        "greetings": PP_GREETINGS, "signoffs": PP_SIGNOFFS,
        "generic_subjects": PP_GENERIC_SUBJECTS, "priority_dist": PP_PRIORITY_DIST,
        "people": ("consumer", 0.15),
    },
    {
        "slug": "stackbeam", "name": "Stackbeam", "prefix": "SB", "seed": 9001,
        "business": "Cloud hosting and developer platform: Git deploys, managed Postgres, "
                    "custom domains and TLS, autoscaling web services and workers.",
        "agents": [("Nina Petrova", "nina.petrova"), ("Marcus Lee", "marcus.lee"),
                   ("Aoife Brennan", "aoife.brennan"), ("Diego Alvarez", "diego.alvarez"),
                   ("Sana Qureshi", "sana.qureshi")],
        "agent_domain": "stackbeam.example",
        "settings": {"triage_auto_apply": True},
        "sla": sla(("urgent", 30, 480), ("high", 240, 1440), ("normal", 960, 4320),
                   ("low", 2880, 10080)),
        # Staffed 06-22 UTC on weekdays, 10-16 at weekends; urgent tickets
        # page the on-call engineer around the clock.
        "calendar": week([(6, 22)], [(10, 16)], [(10, 16)]), "urgent_24_7": True,
        "dow_factor": [1.2, 1.15, 1.1, 1.05, 0.95, 0.3, 0.3],
        "median_fr": {"urgent": 13, "high": 21, "normal": 155, "low": 370},
        "median_res": {"urgent": 165, "high": 230, "normal": 790, "low": 1380},
        "sigma_fr": 0.8, "sigma_res": 0.8, "quick_p": 0.2, "open_fraction": 0.045,
        "volume_sd": 0.35, "rota": [((12, 22), (1, 2), 0.55)],
        "incident_category": "outage", "incidents": 4, "incident_share": 0.5,
        "difficulty": _difficulty_table({
            "deploy_failed": (0.9, 1.3), "outage": (0.6, 1.0), "billing": (1.2, 0.8),
            "dns_domains": (1.0, 1.2), "ssl_certificates": (1.0, 1.1),
            "api_rate_limits": (1.0, 0.9), "database_connections": (0.8, 1.3),
            "sso_login": (0.9, 1.0), "performance": (1.0, 1.8),
            "feature_request": (1.5, 0.6)}),
        "category_sizes": {"deploy_failed": 58, "billing": 52, "outage": 50,
                           "database_connections": 48, "dns_domains": 44, "performance": 44,
                           "ssl_certificates": 40, "sso_login": 40, "feature_request": 38,
                           "api_rate_limits": 36},
        "articles": SB_ARTICLES, "templates": SB_TEMPLATES, "null_weight": 0.6,
        "slots": SB_SLOTS, "cues": SB_CUES, "asides": SB_ASIDES,
        "greetings": SB_GREETINGS, "signoffs": SB_SIGNOFFS,
        "generic_subjects": SB_GENERIC_SUBJECTS, "priority_dist": SB_PRIORITY_DIST,
        "people": ("developer", 0.0),
    },
]


def clean(text):
    return text.strip("\n")


DANGLING = {"a", "an", "the", "to", "from", "of", "for", "in", "on", "at", "with", "and", "or",
            "but", "my", "your", "i", "is", "are", "was", "it", "that", "this", "if", "so",
            "be", "can", "will", "do", "does", "did", "have", "has", "me", "by", "when",
            "where", "what", "why", "how", "which", "as", "am", "not", "there", "some",
            "any", "get", "been", "up", "into", "would", "could", "should", "i'm", "it's"}


def derive_subject(text):
    """A short subject from a query: its first clause (first sentence, cut
    at a comma when at least 4 words precede it), at most 8 words, cut at a
    word boundary and not ending on a function word, without trailing
    punctuation, first letter capitalised."""
    t = " ".join(text.split())
    m = re.search(r"[.!?](\s|$)", t)
    if m and len(t[: m.start()].split()) >= 3:
        t = t[: m.start()]
    c = t.find(", ")
    if c > 0 and len(t[:c].split()) >= 4:
        t = t[:c]
    words = t.split()[:8]
    # Do not end on a dangling function word ("... money from").
    while len(words) > 3 and words[-1].lower().strip(",;:") in DANGLING:
        words.pop()
    s = " ".join(words).rstrip(" .,;:!?-'\"(")
    if not s:
        return "Question"
    return s[0].upper() + s[1:]


def read_banking77():
    with open(BANKING77_CSV, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["text", "category"], rows[0]
    rows = [(r[0], r[1]) for r in rows[1:]]
    with open(BANKING77_CATEGORIES, encoding="utf-8") as f:
        intents = json.load(f)
    assert len(rows) == 3080 and len(intents) == 77, (len(rows), len(intents))
    assert {c for _, c in rows} == set(intents)
    return rows, intents


def build_bank(cfg):
    rows, intents = read_banking77()
    for i in intents:
        BANK_PRIORITY.setdefault(i, "normal")
    by_intent = {a[0]: a for a in BANK_ARTICLES}
    assert len(by_intent) == len(BANK_ARTICLES) == 77 and set(by_intent) == set(intents)
    articles = []
    for i in intents:
        _, title, tags, body = by_intent[i]
        articles.append({"type": "article", "external_id": "KB-" + i, "title": title,
                         "body": clean(body), "tags": tags})
    rng = random.Random(cfg["seed"])
    people = People(rng, "consumer", 0.12)
    tickets, seen = [], Counter()
    for k, (text, cat) in enumerate(rows, 1):
        person = people.pick()
        seen[cat] += 1
        tickets.append({"external_id": "NWB-%05d" % k, "subject": derive_subject(text),
                        "body": text, "requester_email": person["email"],
                        "priority": BANK_PRIORITY[cat], "category": cat,
                        "article": "KB-" + cat,
                        "split": "train" if seen[cat] <= 30 else "holdout"})
    return articles, tickets, {}


def build_synthetic(cfg):
    rng = random.Random(cfg["seed"])
    articles = [{"type": "article", "external_id": aid, "title": title, "body": clean(body),
                 "tags": tags} for aid, _cat, title, tags, body in cfg["articles"]]
    instances = []
    for cat, size in cfg["category_sizes"].items():
        for ti in template_schedule(cfg["templates"][cat], size, cfg["null_weight"], rng):
            instances.append((cat, ti))
    rng.shuffle(instances)
    people = People(rng, *cfg["people"])
    tickets, seen_bodies = [], set()
    for k, (cat, ti) in enumerate(instances, 1):
        tmpl = cfg["templates"][cat][ti]
        person = people.pick()
        for _ in range(30):     # no two tickets with the same words
            subject, body, prio = compose_ticket(cfg, cat, tmpl, person, rng)
            key = " ".join(words_of(body))
            if key not in seen_bodies:
                break
        seen_bodies.add(key)
        tickets.append({"external_id": "%s-%05d" % (cfg["prefix"], k), "subject": subject,
                        "body": body, "requester_email": person["email"], "priority": prio,
                        "category": cat, "article": tmpl["article"], "template": (cat, ti)})
    counts, seen = Counter(t["category"] for t in tickets), Counter()
    for t in tickets:
        seen[t["category"]] += 1
        n_train = (7 * counts[t["category"]] + 5) // 10
        t["split"] = "train" if seen[t["category"]] <= n_train else "holdout"
    return articles, tickets, {"templates_used": Counter(t["template"] for t in tickets)}


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False)


def write_text(path, text):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def write_org(cfg, articles, tickets):
    d = os.path.join(ORGS_DIR, cfg["slug"])
    os.makedirs(d, exist_ok=True)
    org = {
        "name": cfg["name"], "slug": cfg["slug"], "business": cfg["business"],
        "agents": [{"name": n, "email": "%s@%s" % (e, cfg["agent_domain"])} for n, e in cfg["agents"]],
        "sla_policies": [cfg["sla"][p] for p in ["urgent", "high", "normal", "low"]],
        "settings": cfg["settings"],
    }
    write_text(os.path.join(d, "org.json"), json.dumps(org, indent=2, ensure_ascii=False) + "\n")
    write_text(os.path.join(d, "articles.jsonl"), "".join(dumps(a) + "\n" for a in articles))
    lines = []
    for t in tickets:
        lines.append(dumps({
            "type": "ticket", "external_id": t["external_id"], "subject": t["subject"],
            "body": t["body"], "requester_email": t["requester_email"], "status": t["status"],
            "priority": t["priority"], "category": t["category"],
            "created_at": fmt_min(t["created"]),
            "first_response_at": None if t["fr"] is None else fmt_min(t["fr"]),
            "resolved_at": None if t["res"] is None else fmt_min(t["res"]),
        }) + "\n")
    write_text(os.path.join(d, "tickets.jsonl"), "".join(lines))
    write_text(os.path.join(d, "sla_alt.jsonl"), "".join(
        dumps(a) + "\n" for a in alternative_lateness(cfg, tickets, random.Random(cfg["seed"] + 2))))
    write_text(os.path.join(d, "eval.jsonl"), "".join(
        dumps({"external_id": t["external_id"], "split": t["split"], "article": t["article"]}) + "\n"
        for t in tickets))


# ----------------------------------------------------------------- checks --

ARTICLE_KEYS = ["type", "external_id", "title", "body", "tags"]
TICKET_KEYS = ["type", "external_id", "subject", "body", "requester_email", "status", "priority",
               "category", "created_at", "first_response_at", "resolved_at"]
EVAL_KEYS = ["external_id", "split", "article"]
SLA_ALT_KEYS = ["external_id", "status", "first_response_at", "resolved_at"]
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
EMAIL_RE = re.compile(r"^[a-z0-9._+-]+@([a-z0-9-]+\.)*example\.(com|org|net)$")


class CheckError(Exception):
    pass


def need(cond, msg):
    if not cond:
        raise CheckError(msg)


def read_jsonl(path):
    with open(path, "rb") as f:
        raw = f.read()
    need(b"\r" not in raw, "%s: CR characters in file" % path)
    need(raw.endswith(b"\n"), "%s: no final newline" % path)
    out = []
    for n, line in enumerate(raw.decode("utf-8").split("\n")[:-1], 1):
        need(line.strip() != "", "%s:%d: empty line" % (path, n))
        out.append(json.loads(line))
    return out


def parse_ts(s, where):
    need(isinstance(s, str) and TS_RE.match(s), "%s: bad timestamp %r" % (where, s))
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)


def validate_org(cfg, meta):
    d = os.path.join(ORGS_DIR, cfg["slug"])
    slug = cfg["slug"]
    with open(os.path.join(d, "org.json"), encoding="utf-8") as f:
        org = json.load(f)
    need(list(org) == ["name", "slug", "business", "agents", "sla_policies", "settings"],
         "%s org.json keys %s" % (slug, list(org)))
    need(org["slug"] == slug and isinstance(org["name"], str) and org["name"], "org name/slug")
    need(isinstance(org["business"], str) and "\n" not in org["business"], "business one line")
    need(5 <= len(org["agents"]) <= 8, "5-8 agents")
    for a in org["agents"]:
        need(list(a) == ["name", "email"] and all(isinstance(v, str) and v for v in a.values()),
             "agent keys")
    need(len({a["email"] for a in org["agents"]}) == len(org["agents"]), "agent emails unique")
    need(sorted(p["priority"] for p in org["sla_policies"]) == sorted(PRIORITIES), "sla priorities")
    sla_by = {}
    for p in org["sla_policies"]:
        need(list(p) == ["priority", "first_response_minutes", "resolution_minutes"], "sla keys")
        need(all(type(p[k]) is int and p[k] > 0 for k in list(p)[1:]), "sla minutes int > 0")
        need(p["resolution_minutes"] >= p["first_response_minutes"], "resolution >= first response")
        sla_by[p["priority"]] = p
    need(list(org["settings"]) == ["triage_auto_apply"]
         and isinstance(org["settings"]["triage_auto_apply"], bool), "settings")

    articles = read_jsonl(os.path.join(d, "articles.jsonl"))
    art_ids = set()
    for a in articles:
        need(list(a) == ARTICLE_KEYS, "%s article keys %s" % (slug, list(a)))
        need(a["type"] == "article", "article type")
        need(isinstance(a["external_id"], str) and 1 <= len(a["external_id"]) <= 200, "article id")
        need(a["external_id"] not in art_ids, "duplicate article id %s" % a["external_id"])
        art_ids.add(a["external_id"])
        need(isinstance(a["title"], str) and 0 < len(a["title"].strip()) <= 500, "article title")
        words = len(a["body"].split())
        need(80 <= words <= 180, "%s %s body has %d words" % (slug, a["external_id"], words))
        need(isinstance(a["tags"], list) and 2 <= len(a["tags"]) <= 4
             and all(isinstance(x, str) and x for x in a["tags"]), "tags 2-4 %s" % a["external_id"])

    tickets = read_jsonl(os.path.join(d, "tickets.jsonl"))
    evals = read_jsonl(os.path.join(d, "eval.jsonl"))
    need(len(tickets) == len(evals), "one eval line per ticket")
    alts = read_jsonl(os.path.join(d, "sla_alt.jsonl"))
    need(len(alts) == len(tickets), "one sla_alt line per ticket")
    for t, a in zip(tickets, alts):
        w = "%s sla_alt %s" % (slug, a.get("external_id"))
        need(list(a) == SLA_ALT_KEYS and a["external_id"] == t["external_id"], w + " keys, order")
        c = parse_ts(t["created_at"], w)
        fr = None if a["first_response_at"] is None else parse_ts(a["first_response_at"], w)
        res = None if a["resolved_at"] is None else parse_ts(a["resolved_at"], w)
        need(fr is None or c < fr <= ANCHOR, w + " first response after creation, by the anchor")
        need(res is None or (fr is not None and fr < res <= ANCHOR), w + " resolution order")
        need((res is not None) == (a["status"] in ("resolved", "closed")), w + " status")
    anchor, earliest = ANCHOR, ANCHOR - dt.timedelta(days=HISTORY_DAYS)
    open_from = ANCHOR - dt.timedelta(hours=OPEN_WINDOW_HOURS)
    ids = set()
    for t, e in zip(tickets, evals):
        w = "%s %s" % (slug, t.get("external_id"))
        need(list(t) == TICKET_KEYS, "%s ticket keys %s" % (w, list(t)))
        need(t["type"] == "ticket", w + " type")
        need(isinstance(t["external_id"], str) and t["external_id"] not in ids, w + " id unique")
        ids.add(t["external_id"])
        need(isinstance(t["subject"], str) and t["subject"].strip() and "\n" not in t["subject"],
             w + " subject")
        need(isinstance(t["body"], str) and t["body"].strip(), w + " body")
        need(EMAIL_RE.match(t["requester_email"] or ""), w + " email %r" % t["requester_email"])
        need(t["status"] in STATUSES and t["priority"] in PRIORITIES, w + " enums")
        need(isinstance(t["category"], str) and t["category"], w + " category")
        c = parse_ts(t["created_at"], w)
        fr = None if t["first_response_at"] is None else parse_ts(t["first_response_at"], w)
        res = None if t["resolved_at"] is None else parse_ts(t["resolved_at"], w)
        need(earliest <= c <= anchor, w + " created in window")
        need(fr is None or c <= fr <= anchor, w + " first response order")
        need(res is None or (fr is not None and fr <= res <= anchor), w + " resolution order")
        if t["status"] in ("resolved", "closed"):
            need(fr is not None and res is not None, w + " resolved has timestamps")
        else:
            need(res is None and c >= open_from, w + " open: unresolved, recent")
            need((fr is None) == (t["status"] == "new"), w + " new iff no first response")
        need(list(e) == EVAL_KEYS and e["external_id"] == t["external_id"], w + " eval keys/order")
        need(e["split"] in ("train", "holdout"), w + " split")
        need(e["article"] is None or e["article"] in art_ids, w + " eval article exists")
    # Split rule.
    counts, seen = Counter(t["category"] for t in tickets), Counter()
    for t, e in zip(tickets, evals):
        seen[t["category"]] += 1
        n = counts[t["category"]]
        n_train = 30 if slug == "northwind-bank" else (7 * n + 5) // 10
        need(e["split"] == ("train" if seen[t["category"]] <= n_train else "holdout"),
             "%s split rule broken at %s" % (slug, t["external_id"]))
    size = os.path.getsize(os.path.join(d, "tickets.jsonl"))
    need(size < 2_100_000, "%s tickets.jsonl is %d bytes" % (slug, size))

    # Org-specific checks.
    if slug == "northwind-bank":
        rows, intents = read_banking77()
        need(len(tickets) == len(rows), "bank: one ticket per row")
        for k, (t, e, (text, cat)) in enumerate(zip(tickets, evals, rows), 1):
            need(t["external_id"] == "NWB-%05d" % k, "bank id")
            need(t["body"] == text and t["category"] == cat, "bank text/category unchanged")
            need(t["priority"] == BANK_PRIORITY[cat], "bank priority mapping")
            need(e["article"] == "KB-" + cat, "bank eval article")
        need(art_ids == {"KB-" + i for i in intents}, "bank: one article per intent")
        leaks = bank_leakage(articles, rows)
        need(not leaks, "bank articles share 6-word sequences with queries: %s" % leaks[:5])
    else:
        cats = set(cfg["category_sizes"])
        need(set(counts) == cats, "categories")
        for cat in cats:
            used = [ti for (c, ti) in meta["templates_used"] if c == cat]
            need(len(used) >= 12 and len(used) == len(cfg["templates"][cat]),
                 "%s %s: %d templates used" % (slug, cat, len(used)))
        null_share = sum(e["article"] is None for e in evals) / len(evals)
        need(0.07 <= null_share <= 0.13, "%s null article share %.3f" % (slug, null_share))
        for aid, cat, *_ in cfg["articles"]:
            need(any(e["article"] == aid for e in evals), "%s article %s never the answer" % (slug, aid))
            need(cat in cats, "article category")
    # Breach and open-ticket rates.
    n_res, n_breach = 0, 0
    for t in tickets:
        if t["resolved_at"] is None:
            continue
        c, fr, res = (parse_ts(t[k], "") for k in ("created_at", "first_response_at", "resolved_at"))
        pol = sla_by[t["priority"]]
        n_res += 1
        n_breach += ((fr - c).total_seconds() / 60 > pol["first_response_minutes"]
                     or (res - c).total_seconds() / 60 > pol["resolution_minutes"])
    rate = n_breach / n_res
    need(0.10 <= rate <= 0.30, "%s breach rate %.3f" % (slug, rate))
    n_open = sum(t["status"] in ("new", "open", "pending") for t in tickets)
    need(0.04 <= n_open / len(tickets) <= 0.06, "%s open share %.3f" % (slug, n_open / len(tickets)))
    return {"articles": len(articles), "tickets": len(tickets), "breach": (n_breach, n_res),
            "open": n_open, "status": Counter(t["status"] for t in tickets),
            "split": Counter(e["split"] for e in evals), "categories": len(counts),
            "null_articles": sum(e["article"] is None for e in evals)}


def words_of(text):
    return re.findall(r"[a-z0-9']+", text.lower())


def bank_leakage(articles, rows, n=6):
    """6-word sequences that occur both in a query and in an article."""
    grams = set()
    for text, _ in rows:
        w = words_of(text)
        grams.update(tuple(w[i:i + n]) for i in range(len(w) - n + 1))
    leaks = []
    for a in articles:
        w = words_of(a["title"] + " " + a["body"])
        for i in range(len(w) - n + 1):
            if tuple(w[i:i + n]) in grams:
                leaks.append((a["external_id"], " ".join(w[i:i + n])))
    return leaks


# ----------------------------------------------------------------- main ----

def main():
    summary = []
    for cfg in ORGS:
        if cfg["slug"] == "northwind-bank":
            articles, tickets, meta = build_bank(cfg)
        else:
            articles, tickets, meta = build_synthetic(cfg)
        sim, info = simulate(cfg, tickets, random.Random(cfg["seed"] + 1))
        for t, s in zip(tickets, sim):
            t.update(s)
        write_org(cfg, articles, tickets)
        try:
            stats = validate_org(cfg, meta)
        except CheckError as e:
            print("CHECK FAILED:", e, file=sys.stderr)
            sys.exit(1)
        anchor = to_min(ANCHOR)
        late_open = sum(1 for t in tickets if t["res"] is None and (
            (t["fr"] is None and anchor - t["created"] > 0.75 * cfg["sla"][t["priority"]]["first_response_minutes"])
            or anchor - t["created"] > 0.75 * cfg["sla"][t["priority"]]["resolution_minutes"]))
        b, r = stats["breach"]
        summary.append("| %s | %d | %d | %d | %d | %d | %d | %d | %d | %d/%d = %.1f%% |" % (
            cfg["slug"], stats["articles"], stats["categories"], stats["tickets"],
            stats["split"]["train"], stats["split"]["holdout"], stats["null_articles"],
            stats["open"], late_open, b, r, 100.0 * b / r))
        res = sorted((t for t in tickets if t["res"] is not None), key=lambda t: (t["opa"], t["created"]))
        quart = [res[len(res) * k // 4: len(res) * (k + 1) // 4] for k in range(4)]
        print("%s: breach rate by quartile of open tickets per agent at creation: %s" % (
            cfg["slug"], " / ".join("%.0f%%" % (100.0 * sum(breach_of(t, cfg["sla"]) for t in q) / len(q))
                                    for q in quart)), file=sys.stderr)
        print("%s: status %s; load reference %.2f open tickets per agent on duty; "
              "%d resimulations, %d squeezed" % (
                  cfg["slug"], dict(sorted(stats["status"].items())), info["load_reference"],
                  info["refits"], info["squeezed"]), file=sys.stderr)
    table = "\n".join(
        ["| org | articles | categories | tickets | train | holdout | tickets without article "
         "| open at anchor | open, >=75% of an SLA target used | resolved tickets breaching SLA |",
         "|---|---|---|---|---|---|---|---|---|---|"] + summary)
    print(table)
    readme = os.path.join(DATA_DIR, "README.md")
    if os.path.exists(readme):
        with open(readme, encoding="utf-8") as f:
            if table not in f.read():
                print("note: data/README.md does not contain this summary table; update it.",
                      file=sys.stderr)
    print("all checks passed", file=sys.stderr)


if __name__ == "__main__":
    main()
