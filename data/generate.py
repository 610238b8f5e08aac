#!/usr/bin/env python3
"""Generates the labelled helpdesk datasets under data/orgs/.

    python3 data/generate.py

writes, for three organizations (northwind-bank, parcelpoint, stackbeam),
org.json, articles.jsonl, tickets.jsonl and eval.jsonl, then validates every
file it wrote and prints a summary (breach rates, open tickets, split
counts). Python 3.11 standard library only; fixed seeds, so every run gives
byte-identical files.

Contents of this script, in order:
  1. constants and helpers;
  2. Northwind Bank: help-centre articles (one per BANKING77 intent) and the
     intent -> priority mapping; tickets are BANKING77's test split;
  3. Parcelpoint and 4. Stackbeam: articles and customer-message templates;
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


def T(article, subjects, body, sev=0):
    """A customer-message template: the article that answers it (None when
    no article does), '|'-separated subject variants, the body with {slot}
    placeholders, and sev=1 when the problem itself makes the ticket at
    least high priority."""
    return {"article": article, "subjects": subjects.split("|"), "body": body, "sev": sev}

# ---------------------------------------------------------------------------
# Northwind Bank: one help-centre article per BANKING77 intent.
# Written for this project as help-centre prose (no BANKING77 query is
# copied or paraphrased here); facts are fictional but kept consistent
# across articles (plans Standard/Plus/Premium, Mastercard debit cards,
# app tabs Home/Cards/Payments/Accounts/Profile).
# ---------------------------------------------------------------------------

BANK_ARTICLES = [
("card_arrival", "Tracking the delivery of your Northwind card", ["cards", "delivery", "tracking"], """
Once you order a card, its progress appears on the Cards tab under the card image: Ordered, Printed, Dispatched and Delivered. Standard post does not come with a tracking number, but the Dispatched date tells you when it left our printer. Express delivery is sent by courier, and the tracking link is shown on the same screen and emailed to you.

Standard delivery takes 3 to 5 working days in the UK and up to 10 working days elsewhere in Europe. Post can be slower around bank holidays.

If 10 working days have passed since the Dispatched date, tap the card, choose "My card hasn't arrived" and confirm your address. We cancel the missing card straight away so nobody else can use it, and send a replacement free of charge. Until it arrives you can pay with a virtual card or Apple Pay and Google Pay.
"""),
("card_linking", "Adding a card you already hold to the Northwind app", ["cards", "app", "link-card"], """
Cards ordered inside the app appear automatically. A card that reached you another way, for example a replacement sent by our team or a card from a branch event, has to be linked to your profile before you can manage it.

1. Open the Cards tab and tap the plus sign.
2. Choose "Link a card I have".
3. Enter the last four digits and the expiry date printed on the card, then confirm with your passcode.

The card shows up in the carousel within a minute. If the app says the card belongs to another profile or cannot be found, check the digits and make sure you are signed in to the right profile; joint holders each link their own card. A card that was cancelled, reported lost or expired cannot be linked again, so order a new one from the same screen instead.
"""),
("exchange_rate", "What exchange rate does Northwind use?", ["exchange", "rates", "currencies"], """
We convert at the live interbank rate published by our rate provider, which updates every few seconds while the currency markets are open. You can see today's rate for any pair before you do anything: open the Accounts tab, tap Exchange and pick the two currencies. The rate and the amount you will get are shown before you confirm.

Markets close at the weekend, so between Friday 22:00 and Sunday 22:00 UK time we add a small markup of 0.5% to protect against price moves while rates are frozen. Less traded currencies such as the Thai baht or the Hungarian forint carry an extra 0.5% at all times.

You can set a rate alert under Exchange > Alerts and we will notify you when a pair reaches the level you choose.
"""),
("card_payment_wrong_exchange_rate", "Why does a card payment abroad show a different rate from the one I expected?", ["card-payments", "exchange", "rates"], """
When you pay in a foreign currency, the payment is converted twice in your timeline: first at the moment the shop authorises it, and again when the shop completes the payment, which can be a day or more later. If the rate moved in between, the final amount changes slightly. Payments made at the weekend also include the weekend markup.

The most common cause of a poor rate is the shop or terminal offering to charge you in pounds instead of the local currency. This is called dynamic currency conversion, and the shop's rate is usually worse than ours. Always choose to pay in the local currency.

To see the rate that was applied, tap the payment on the Home tab; the details show the original amount, the rate and any fee. If the rate still looks wrong, tap "Report an issue" on that payment.
"""),
("extra_charge_on_statement", "I can see a small charge on my statement that I don't understand", ["statements", "fees", "charges"], """
Small unexpected amounts on a statement usually come from one of these sources:

- A card check. Hotels, petrol stations and subscription services often place a 1 unit authorisation (for example 1.00 GBP or 1.00 USD) to check your card is valid. It disappears within 7 days without being taken.
- A fee from us, such as the fair usage fee on exchanges, an ATM fee beyond your free allowance or an express card delivery fee. Fees are labelled "Northwind fee" and tapping them explains the reason.
- A foreign transaction fee added by the merchant itself.
- Your monthly plan fee if you are on Plus or Premium.

Tap the transaction on the Home tab to see the merchant name, the original currency and the category. If you still don't recognise it, tap "Report an issue" and we'll look into it.
"""),
("pending_cash_withdrawal", "Why is my ATM withdrawal still showing as pending?", ["atm", "cash", "pending"], """
When you take money out of a cash machine, the amount is reserved from your balance straight away and appears as pending. It stays pending until the ATM operator sends us the final settlement, which usually takes 1 to 3 working days and can take up to 7 days for machines abroad.

While the withdrawal is pending the money is already unavailable, so your balance is correct even though the status has not changed. There is nothing you need to do.

If the machine did not give you any cash but the withdrawal is still pending, wait for it to complete or drop off: if the operator never settles it, the hold is released automatically. If it completes even though you received nothing, tap the withdrawal on the Home tab and choose "Report an issue" so we can start a claim with the ATM operator.
"""),
("fiat_currency_support", "Which currencies can I hold in my Northwind account?", ["currencies", "accounts", "exchange"], """
You can hold, exchange and spend 29 currencies in the same account, including pound sterling, euro, US dollar, Swiss franc, Polish zloty, Czech koruna, Danish, Norwegian and Swedish krone, Hungarian forint, Romanian leu, Canadian, Australian and New Zealand dollar, Japanese yen, Hong Kong and Singapore dollar, South African rand, Turkish lira, Israeli shekel, UAE dirham, Mexican peso, Thai baht and Indian rupee.

To add a currency, open the Accounts tab, tap "Add currency" and pick from the list. Each currency gets its own balance. Only government-issued currencies are supported; we do not offer cryptocurrencies or precious metals.

Local account details for receiving money are available in GBP and EUR. For the other currencies you can exchange within the app or receive an international transfer, which we convert on arrival.
"""),
("card_delivery_estimate", "How long does card delivery take?", ["cards", "delivery"], """
Delivery times depend on where you live and the option you choose when ordering:

- Standard post, free: 3 to 5 working days in the UK, 5 to 10 working days to addresses in the EEA and Switzerland.
- Express courier, 4.99 GBP (free on Premium): 1 to 2 working days in the UK and 2 to 4 working days in the EEA, with a tracking link.

Cards are printed on the next working day after you order, so an order placed on Friday evening is printed on Monday. Bank holidays in your country add a day.

You can choose express delivery at checkout in Cards > Order card. Upgrading an order that has already been dispatched is not possible. While you wait, your virtual card works immediately for online payments and Apple Pay or Google Pay.
"""),
("automatic_top_up", "Setting up Auto top-up", ["top-up", "auto-top-up", "settings"], """
Auto top-up adds money to your account from a linked debit card whenever your balance drops below a level you choose, so a payment is never declined for lack of funds.

1. Go to Accounts, tap the balance and choose Auto top-up.
2. Set the threshold, for example 20 GBP, and the amount to add each time, between 10 and 500 GBP.
3. Pick the card to charge and confirm with your passcode.

The same fees as a manual card top-up apply. Auto top-up runs at most three times in 24 hours, and it pauses if the card is declined twice in a row; we'll send you a notification so you can update the card. To switch it off, return to the same screen and toggle Auto top-up off. Changes take effect immediately.
"""),
("card_not_working", "My Northwind card isn't working. What should I check?", ["cards", "troubleshooting", "payments"], """
If a card stops working, go through these checks in the app first:

1. Open Cards and make sure the card isn't frozen. A frozen card shows a snowflake icon; tap Unfreeze.
2. Check the expiry date. Expired cards are declined everywhere.
3. Under Cards > Security, check that the payment type is enabled: online payments, contactless, magnetic stripe and ATM withdrawals can each be switched off.
4. Look at the declined payment on the Home tab. It states the reason, such as insufficient balance, wrong PIN or location-based security.

If the chip is damaged, the card may work contactless but fail in chip readers. In that case order a replacement from Cards > Manage > Replace card, choosing "Damaged". Your card number changes with a replacement, so update any subscriptions once it arrives.
"""),
("exchange_via_app", "How to exchange money between currencies in the app", ["exchange", "app", "currencies"], """
1. Open the Accounts tab and tap Exchange.
2. Choose the currency you are selling at the top and the currency you are buying at the bottom.
3. Type an amount in either field. The rate and the final amount are shown before you confirm.
4. Tap Exchange and confirm with your passcode.

The money appears in the new currency balance instantly. If you don't hold that currency yet, it is added automatically.

You can also set up a scheduled exchange, for example every month on payday, or an order that executes when the rate reaches a target. Both are under Exchange > Automate. Exchanges within your plan's fair usage allowance are free on weekdays; the weekend markup and fair usage fee are explained in our article on exchange fees.
"""),
("lost_or_stolen_card", "My card has been lost or stolen: what to do now", ["cards", "security", "lost-card"], """
Act straight away to protect your money:

1. Open Cards, tap the card and choose Freeze. Freezing blocks all new payments and withdrawals instantly and can be undone if you find the card.
2. If you are sure it's gone, choose "Report lost or stolen". This cancels the card permanently and offers a replacement with a new number.
3. Check recent transactions on the Home tab. Report anything you didn't make with "Report an issue" on that transaction.

If you cannot reach the app, call our 24/7 card line on 020 7946 0321 and we will block the card for you.

Replacement cards are free for the first loss each year. Your virtual card keeps working, so you can keep paying online and with Apple Pay or Google Pay while you wait.
"""),
("age_limit", "Minimum age for a Northwind account", ["eligibility", "accounts"], """
You need to be at least 18 years old to open a Northwind personal account in your own name. We check your date of birth against the identity document you upload during sign-up, so applications from younger customers are declined automatically.

For young people aged 11 to 17 we offer Northwind Junior. A parent or guardian with a Northwind account opens it from Profile > Family, controls spending limits and can top it up instantly. The Junior card works for in-store and online payments but cannot be used for gambling, alcohol or adult content merchants.

When a Junior customer turns 18, they are invited to move to a full account, keeping their balance and transaction history. There is no upper age limit for any of our accounts.
"""),
("pin_blocked", "How to unblock your PIN after too many wrong attempts", ["pin", "cards", "security"], """
For your security, the PIN is blocked after three incorrect attempts in a row. Contactless and online payments keep working, but chip and PIN payments and ATM withdrawals are declined until you unblock it.

1. In the app, open Cards, tap the card, then Security > Unblock PIN.
2. Confirm with your passcode. The app shows your PIN if you need a reminder.
3. Insert the card at any ATM and complete a balance enquiry or withdrawal with the correct PIN. This resets the counter on the chip.

Unblocking in the app alone is not enough, because the block is stored on the card's chip. Some cash machines abroad can't reset the chip; if that happens, use an ATM in the UK or EEA, or contact us in chat and we'll help.
"""),
("contactless_not_working", "Contactless payments refused or not responding", ["contactless", "cards", "payments"], """
There are a few reasons a contactless payment may be refused:

- A brand new card must be used once with chip and PIN before contactless is switched on.
- The single contactless payment limit is 100 GBP in the UK; other countries set their own limits.
- After a number of contactless payments in a row, or 300 GBP in total since you last used your PIN, the terminal asks you to insert the card. This is a legal security requirement.
- Contactless can be turned off under Cards > Security. Check that the toggle is on.

If the terminal doesn't react at all, the antenna in the card may be damaged. Try the card at another shop, and if it still fails, order a replacement from Cards > Manage > Replace card. Apple Pay and Google Pay are not affected by these card limits.
"""),
("top_up_by_bank_transfer_charge", "Is there a fee for adding money by bank transfer?", ["top-up", "bank-transfer", "fees"], """
We don't charge anything for money you send to your Northwind account by bank transfer, whether it arrives through Faster Payments in GBP or SEPA in EUR. There is no limit on how many transfers you can receive.

Your sending bank may have its own charges, especially for international SWIFT payments or transfers from outside Europe. Intermediary banks involved in a SWIFT payment can also take a fee along the way, so the amount that arrives can be lower than the amount sent. We can't refund these, but your bank can tell you what it charged.

If money arrives in a currency you don't hold, it is converted at our rate and counts towards your fair usage allowance. To avoid conversion, add that currency in the Accounts tab before the transfer arrives.
"""),
("pending_top_up", "Top-ups that stay pending", ["top-up", "pending"], """
Card top-ups are normally instant. Sometimes a top-up is held for a short security check, which can take up to an hour; you'll see it as pending on the Home tab during that time. Top-ups from a card you have just added may also require verification before they are released.

Bank transfer top-ups don't show as pending, because we only see them when they arrive. Faster Payments usually land within minutes, SEPA transfers within one working day, and international transfers can take up to five working days.

If a card top-up has been pending for more than a few hours, check the card's banking app: your bank may have asked you to approve the payment. Do not repeat the top-up while it is pending, as both may go through. If nothing changes within 24 hours, contact us in chat with the amount and time.
"""),
("cancel_transfer", "Can I cancel a transfer I have sent?", ["transfers", "cancel"], """
Whether you can cancel depends on the transfer's status:

- Scheduled or recurring transfers can be cancelled any time before they run: Payments > Scheduled, tap the transfer and choose Cancel.
- International transfers that still say "Processing" can often be stopped. Tap the transfer on the Home tab and choose Cancel transfer; if the button is shown, the cancellation is immediate and the money returns to your balance, including the fee.
- Faster Payments and completed SEPA transfers are final once they show "Completed", because the money is already with the recipient's bank.

If you sent money to the wrong account or paid a scammer, tell us in chat straight away. We will contact the receiving bank and ask for the funds to be returned, but we can't guarantee the result. For mistakes, the fastest route is usually to ask the recipient to send the money back.
"""),
("top_up_limits", "Top-up limits and minimum amounts", ["top-up", "limits"], """
These limits apply to adding money by card:

- Minimum top-up: 5 GBP (or the equivalent in another currency).
- Maximum single card top-up: 5,000 GBP.
- Maximum card top-ups in a rolling 30 days: 15,000 GBP.
- Cash at the Post Office: up to 1,000 GBP per deposit and 3,000 GBP per month.

Bank transfers into your account have no Northwind limit, but very large or unusual amounts may lead to a request to explain where the money comes from.

Until you finish verifying your identity, your total balance is capped at 250 GBP. Limits are shown in the app under Accounts > Add money > Limits, together with how much of your monthly allowance is left. We can't raise card top-up limits individually, so for larger amounts please use a bank transfer.
"""),
("wrong_amount_of_cash_received", "Cash machine dispensed the wrong amount", ["atm", "cash", "disputes"], """
Cash machines occasionally dispense the wrong amount because of a jam or a miscount. If this happens:

1. Keep the receipt if the machine printed one, and note the ATM's location and the time.
2. Wait until the withdrawal shows as completed on the Home tab, usually within 1 to 3 working days.
3. Tap the withdrawal, choose "Report an issue" and then "I received a different amount". Enter the amount you actually received.

We raise a claim with the ATM operator, who checks the machine's balance at its next reconciliation. Investigations normally take 10 working days and can take up to 45 days abroad. If the operator confirms the shortfall, we refund the difference, along with any ATM fee charged on the missing part. Please also report it to the bank or shop that owns the machine, as it speeds things up.
"""),
("card_payment_fee_charged", "Fees on card payments explained", ["card-payments", "fees"], """
Card payments in the UK and in any of the currencies you hold are free. A fee can appear on a card payment in these cases:

- You paid in a foreign currency that you don't hold and you have used up your plan's monthly exchange allowance, so the 0.5% fair usage fee applied.
- The payment was made at the weekend in a foreign currency, when the 0.5% weekend markup applies.
- The merchant added its own surcharge, for example for paying by card or for a card registered abroad. That fee is part of the merchant's amount and only the merchant can refund it.
- The payment was a cash-like transaction, such as buying casino chips or foreign currency, which is treated as an ATM withdrawal.

Tap the payment on the Home tab to see a breakdown of the amount and any Northwind fee.
"""),
("transfer_not_received_by_recipient", "My recipient says they haven't received my transfer", ["transfers", "tracking"], """
First check the transfer on the Home tab. If it says "Completed", the money has left Northwind and is with the recipient's bank. Typical arrival times:

- Faster Payments in GBP: usually within minutes, occasionally up to 2 hours.
- SEPA in EUR: by the end of the next working day.
- International SWIFT payments: 1 to 5 working days, depending on the banks in between.

Ask the recipient to check again after those times, and to look for the reference you entered. Compare the account number, sort code or IBAN on the transfer with the details they gave you.

If the transfer is complete and still missing after the expected time, tap it and choose "Get a payment confirmation" to send the recipient proof with the transaction reference. If their bank still can't find it, choose "Trace this transfer" and we will start an investigation, which usually takes 5 to 10 working days.
"""),
("supported_cards_and_currencies", "Cards and currencies accepted for adding money", ["top-up", "cards", "currencies"], """
You can add money with Visa and Mastercard debit or credit cards issued in most countries, and with Maestro cards issued in the UK and EEA. American Express, Diners and prepaid gift cards are not accepted.

Card top-ups can be made in GBP, EUR, USD, CHF, PLN, CZK, DKK, NOK, SEK, HUF, RON, CAD and AUD. If your card is in one of these currencies, choose the matching balance when topping up to avoid any conversion by your card issuer. Cards in other currencies are charged in GBP.

Bank transfers can be received in GBP and EUR using your local account details, and in many other currencies through SWIFT, which are converted on arrival.

To add a card, go to Accounts > Add money > Card and tap "Add new card". You can save up to five cards.
"""),
("getting_virtual_card", "How do I create a virtual card?", ["virtual-card", "cards"], """
A virtual card has its own card number, expiry date and security code, and lives only in the app. It works for online shopping and with Apple Pay or Google Pay straight away, even before your physical card arrives.

1. Open the Cards tab and tap the plus sign.
2. Choose Virtual card and give it a name and colour, for example "Subscriptions".
3. Confirm with your passcode. The card details appear immediately; tap Show details to copy them.

You can have up to 3 virtual cards on Standard and up to 10 on Plus and Premium, all free of charge. Each can be frozen, given its own spending limit or deleted at any time without affecting your other cards. Virtual cards can't be used at cash machines.
"""),
("card_acceptance", "Where can I use my Northwind card?", ["cards", "acceptance", "travel"], """
Your Northwind card is a Mastercard debit card, so you can use it anywhere that shows the Mastercard logo: in shops, restaurants and online, in more than 200 countries and territories. You can also use it at cash machines that display the Mastercard or Cirrus logo.

A few types of merchant may refuse debit cards or need extra checks. Car rental companies and some hotels ask for a credit card for the deposit. Unattended terminals such as petrol pumps, toll booths and parking machines may place a temporary hold larger than your purchase. Some airlines and in-flight systems work offline and don't accept cards without a chip and PIN check.

Gambling merchants are blocked by default; you can enable them under Cards > Security. Payments in sanctioned countries are not possible.
"""),
("top_up_reverted", "Why was my top-up reversed?", ["top-up", "reverted", "refund"], """
A top-up can show as completed and then be reversed when the bank that issued your card refuses the payment after it was authorised, or when the card fails our security checks, for example because the cardholder name doesn't match yours. In both cases the money never leaves your card, or returns to it within 3 to 5 working days depending on your bank.

Your Northwind balance is reduced by the reversed amount. If you already spent part of it, your balance may go negative and you'll need to add money to cover the difference.

To see the reason, tap the top-up on the Home tab. If the card was blocked by our checks, top up with a card in your own name or by bank transfer instead. If you were charged twice for one top-up, send us both transaction dates in chat.
"""),
("balance_not_updated_after_cheque_or_cash_deposit", "My cheque or cash deposit isn't in my balance yet", ["cheques", "cash", "deposits"], """
Cash paid in at a Post Office counter normally appears within 20 minutes and at the latest within 2 hours. Check that the cashier scanned the barcode from your app; without it, the money can't be matched to your account. Keep the counter receipt until the money arrives.

Cheques deposited with a photo in Accounts > Add money > Cheque are cleared by 23:59 on the next working day. Cheques deposited on a Friday or at the weekend clear on Tuesday. A cheque shows "Under review" if the photo was unclear, the amount in words and figures differ, or the payee name doesn't match yours; we'll notify you if we need a new photo.

If cash hasn't arrived after 2 hours, or a cheque after 3 working days, contact us in chat with a photo of the receipt or the cheque.
"""),
("card_payment_not_recognised", "Unfamiliar card payments: checking and reporting them", ["card-payments", "fraud", "disputes"], """
Before reporting a payment, tap it on the Home tab to see the details. Many payments appear under the name of the company behind a shop, not the shop itself, or under a payment processor such as "SQ *" or "PAYPAL *". The map, time and category often jog your memory. Also check with anyone who has access to your cards or devices, and with subscriptions that may have renewed.

If you still don't recognise it:

1. Freeze your card from the Cards tab straight away.
2. Tap the payment and choose "I don't recognise this".
3. Answer a few questions. If it looks like fraud, we cancel the card, send a free replacement and start a dispute.

Most fraud disputes are resolved within 15 working days, and we may credit the amount back while we investigate.
"""),
("edit_personal_details", "How do I change my name, address or contact details?", ["profile", "personal-details"], """
Most details can be updated in Profile > Personal details:

- Address: enter your new address and confirm. If you've moved country, we may ask for proof of address, such as a utility bill from the last three months.
- Email address and phone number: you'll receive a confirmation code on the new email or number.
- Name: upload a photo of an identity document in your new name, and a marriage certificate or deed poll if relevant. We check name changes within two working days.

Your date of birth can only be corrected by our team; contact us in chat with a photo of your identity document.

Card details are not changed automatically. After a name change, order a new card from Cards > Manage > Replace card so that it shows your new name.
"""),
("why_verify_identity", "Why do you ask me to verify my identity?", ["verification", "regulation", "security"], """
As a regulated bank, we are required by law to confirm who our customers are before we let them move money. These "know your customer" rules help prevent fraud, money laundering and identity theft, including someone opening an account in your name.

Until your identity is verified you can explore the app, but you can't send money, receive transfers above 250 GBP or order a physical card. Verification happens once; you won't be asked each time you sign in, although we may ask again if your document expires or if the law requires a refresh.

We use your documents only for verification and fraud prevention, and store them encrypted. You can read how we handle your data in Profile > Legal > Privacy notice. We can't open or keep an account without completing these checks.
"""),
("unable_to_verify_identity", "What to do when identity verification keeps failing", ["verification", "troubleshooting"], """
If the app keeps rejecting your document or selfie, try these steps:

1. Use a valid, original document: passport, national identity card or photo driving licence. Photocopies, screenshots and expired documents are refused.
2. Place the document on a dark, flat surface in good daylight, with no glare or shadows, and make sure all four corners are visible.
3. For the selfie video, remove glasses and hats, face the camera directly and follow the head movements slowly.
4. Check that the name and date of birth in your profile match the document exactly.
5. Update the app to the latest version.

After three unsuccessful attempts the app pauses verification for 24 hours. If you are still stuck, contact us in chat and choose "Verification help"; an agent can review your photos manually, usually within one working day.
"""),
("get_physical_card", "Where do I find the PIN for my physical card?", ["pin", "cards", "physical-card"], """
We don't send PINs by post. Your PIN is created when you order the card and is available in the app at any time:

1. Open the Cards tab and tap your physical card.
2. Choose Security > Show PIN.
3. Confirm with your passcode or biometrics. The PIN is displayed for a few seconds.

Your first payment with a new card must be a chip and PIN payment or an ATM withdrawal, which also activates contactless.

You can change the PIN at most UK cash machines using the PIN services menu. If you have forgotten the PIN after entering it wrongly three times, see our article on unblocking your PIN. Never share your PIN with anyone, including people who say they work for Northwind; our staff will never ask for it.
"""),
("visa_or_mastercard", "Is my Northwind card a Visa or a Mastercard?", ["cards", "network"], """
All Northwind debit cards, physical and virtual, are issued on the Mastercard network. You'll see the Mastercard logo on the front of the physical card and in the card details in the app. It is not possible to choose a Visa card instead.

Being a Mastercard means your card is accepted wherever Mastercard is shown and works with Mastercard's protections such as Mastercard Identity Check for online payments and zero liability for unauthorised payments you report promptly.

The card type is debit: payments come directly from your Northwind balance and there is no credit line. Some merchants, mainly car rental companies, treat debit cards differently from credit cards, so check their terms before you book.
"""),
("topping_up_by_card", "How to add money using a debit or credit card", ["top-up", "cards"], """
Adding money with a card is instant in most cases.

1. Open the Accounts tab and tap Add money.
2. Choose Card, then pick a saved card or tap "Add new card" and enter its number, expiry date and security code.
3. Enter the amount and choose the currency balance to add it to.
4. Tap Add money. Your bank may ask you to approve the payment in its own app or by text message.

The money appears in your balance straight away. The first top-up from a new card may need a quick verification before it's released. Cards must be in your own name. Fees for credit cards and cards from outside Europe, and the minimum and maximum amounts, are listed in our articles on top-up fees and limits.
"""),
("disposable_card_limits", "Disposable virtual card limits by plan", ["disposable-card", "limits", "virtual-card"], """
Disposable virtual cards can be used for a single payment. As soon as a payment is made, the card is deleted and a new disposable card with a new number is generated automatically, so there is always one ready.

Limits depend on your plan:

- Standard: up to 2 disposable cards in 24 hours.
- Plus: up to 10 in 24 hours.
- Premium: up to 20 in 24 hours.

You can hold only one active disposable card at a time. The maximum single payment with a disposable card is 2,000 GBP. Disposable cards can't be used for recurring payments, subscriptions, hotel deposits or cash machines, and refunds for purchases made with them are credited to your account balance. If you need more cards in a day, use a regular virtual card and freeze it after use.
"""),
("compromised_card", "I think someone has my card details", ["security", "fraud", "cards"], """
If your card details may have been exposed, for example in a data breach, on a suspicious website, or because you gave them to someone over the phone, act quickly:

1. Freeze the card in the Cards tab. Frozen cards can't be used for new payments.
2. Review your recent transactions and report anything you didn't make.
3. Tap the card and choose Manage > Replace card > "My card details were compromised". We cancel the old number and send a free replacement with a new number, expiry date and security code.

For online shopping while you wait, create a virtual card. Remember to update the new card number with subscriptions you want to keep.

Northwind will never ask you for your PIN, passcode or full card number by phone, text or email. If someone did, report it to us in chat.
"""),
("atm_support", "Which cash machines can I use?", ["atm", "cash"], """
You can withdraw cash at any ATM that displays the Mastercard, Maestro or Cirrus logo, in the UK and abroad. Almost all bank cash machines qualify. Use the in-app map in Cards > ATM finder to see nearby machines; it shows whether the operator is known to charge its own fee.

Your physical card must be activated with chip and PIN before it works at a cash machine. Virtual and disposable cards can't be used at ATMs, and cash withdrawals via Apple Pay or Google Pay are only supported at machines with a contactless reader.

Some operators abroad, mainly in tourist areas, add a fee and offer to convert the amount for you. Decline the conversion so that we convert at our rate. Free withdrawal allowances for each plan are explained in our article on ATM fees.
"""),
("direct_debit_payment_not_recognised", "There's a Direct Debit I don't recognise", ["direct-debits", "disputes"], """
A Direct Debit can only be set up by an organisation you gave your account details to, but it may appear under an unfamiliar name: the company that collects payments for a gym, a utility or an insurer, for example.

To check, open Payments > Direct Debits and tap the mandate. You'll see the originator's name, reference and when the mandate was created. Searching the reference or originator name often tells you which service it belongs to.

If you didn't authorise it:

1. Cancel the mandate from the same screen so no further collections are taken.
2. Tap the collection on the Home tab and choose "Claim a Direct Debit refund".

Under the Direct Debit Guarantee, payments taken in error or without your authorisation are refunded in full, usually within 2 working days of your claim.
"""),
("passcode_forgotten", "I forgot my app passcode", ["passcode", "login", "security"], """
Your 6-digit passcode protects the Northwind app. If you can't remember it:

1. On the sign-in screen, tap "Forgot passcode?".
2. Enter the phone number linked to your account and the code we send by text message.
3. Open the link we email to you on the same phone.
4. Record a short selfie video so we can confirm it's you.
5. Choose a new passcode.

The reset usually takes under five minutes. If you have changed your phone number or no longer have access to your email, contact us through the web chat at northwind.example/help and choose "I can't sign in". After five wrong passcode attempts the app locks for 30 minutes as a security measure; your cards keep working during that time.
"""),
("declined_cash_withdrawal", "Reasons a cash withdrawal is declined", ["atm", "cash", "declined"], """
A cash machine can decline your card for several reasons. The app shows the reason on the declined withdrawal in the Home tab. Common causes are:

- Not enough money in the balance of the currency being withdrawn, including any ATM fee.
- The daily ATM limit of 500 GBP per day, or the machine's own limit, has been reached.
- ATM withdrawals are switched off under Cards > Security.
- A wrong or blocked PIN.
- The card hasn't been activated with chip and PIN yet.
- The machine can't read the chip or doesn't support your card network.

If the machine declined the card but you think the balance and limits are fine, try another ATM, ideally one owned by a bank. If money was taken from your balance but no cash came out, report it on the transaction.
"""),
("pending_card_payment", "Why is a card payment still pending?", ["card-payments", "pending"], """
When you pay by card, the shop first asks us to reserve the amount. The payment shows as pending and the money is set aside. The shop then completes, or "settles", the payment, which normally happens within 1 to 3 days.

Some merchants take longer. Hotels, car rental companies and petrol stations may hold an amount for up to 31 days, and the final amount can be different from the hold.

If the shop never completes the payment, the hold is released automatically, usually within 7 days; you don't need to contact us. If you cancelled the order, the merchant can release the hold sooner. We can't cancel a pending payment ourselves, because it belongs to the merchant.

Pending payments can't be disputed yet. Once the payment is completed, you can use "Report an issue" if something is wrong.
"""),
("lost_or_stolen_phone", "My phone was lost or stolen: how to secure my account", ["security", "devices", "lost-phone"], """
Your app is protected by a passcode or biometrics, but you should secure your account as soon as possible:

1. From another device, sign in at northwind.example/web, or call 020 7946 0321 at any time.
2. In Security > Devices, sign the lost phone out of Northwind. This also removes your cards from that phone's Apple Pay or Google Pay.
3. Freeze your physical and virtual cards if you think anyone could use them.
4. Contact your mobile network to block the SIM, so nobody can receive your security codes.

When you have a new phone, install the app and sign in with your phone number. You'll need to record a selfie video to confirm it's you. Review recent transactions and report any you don't recognise.
"""),
("request_refund", "Getting your money back from a merchant", ["refunds", "disputes", "card-payments"], """
Refunds are issued by the merchant, so start by contacting the shop or service. Once they agree, they send the refund back to the card you paid with and it appears in your account, usually within 5 to 10 working days.

If the merchant refuses or doesn't reply within 14 days, and the item never arrived, was faulty or was not as described, we can help with a chargeback:

1. Tap the payment on the Home tab.
2. Choose "Report an issue" and then "I have a problem with the goods or service".
3. Describe what happened and upload any evidence, such as emails or photos.

Chargebacks follow Mastercard rules and can take up to 90 days. You have up to 120 days from the payment date to raise one. Transfers you sent yourself can't be disputed this way.
"""),
("declined_transfer", "Why was my transfer declined?", ["transfers", "declined"], """
The transfer screen shows why a payment wasn't sent. The most common reasons are:

- Not enough money in the balance, including the transfer fee.
- You've reached a sending limit. New accounts can send up to 2,500 GBP per day in the first 30 days; after that the limit is 25,000 GBP per day.
- The recipient details are invalid: the IBAN checksum fails or the sort code doesn't exist.
- Our security checks held the payment. You may be asked to confirm it's you or answer questions about the payment's purpose.

If the transfer was stopped by security checks, don't try again repeatedly. Open the notification we sent and follow the steps; most reviews finish within a few hours. If the reason isn't clear, contact us in chat with the amount and recipient name.
"""),
("Refund_not_showing_up", "A merchant refunded me, but I can't see the money", ["refunds", "card-payments"], """
When a shop issues a refund, it takes time to travel back through the card network. Most refunds appear within 5 to 10 working days of the date the merchant processed it; some merchants take longer to start the process.

The refund goes back to the card you paid with, even if that card has since been cancelled or replaced, and is shown in the original payment currency. Refunds for disposable card purchases go to your main balance.

If 10 working days have passed, ask the merchant for the refund reference number, known as the ARN. Then tap the original payment on the Home tab, choose "Report an issue" and "My refund hasn't arrived", and add the ARN. We'll trace it with Mastercard. If the merchant never actually sent the refund, you may be able to raise a chargeback.
"""),
("declined_card_payment", "Reasons a card payment is declined", ["card-payments", "declined"], """
Tap the declined payment on the Home tab to see why it failed. Typical reasons:

- Insufficient balance in the payment's currency and no auto-exchange from your other balances.
- The card is frozen or has expired.
- The payment type is disabled under Cards > Security, for example online, magnetic stripe or gambling payments.
- The merchant is in a country you've blocked with location-based security.
- The online shop couldn't complete the 3D Secure check. Approve the notification in the app when it appears.
- Wrong security code, expiry date or billing address entered online.

If there's no declined payment in your app, the payment never reached us, so the problem is with the merchant's terminal or website. Try again or use another payment method, such as Apple Pay or Google Pay.
"""),
("pending_transfer", "Why does my transfer say it's still processing?", ["transfers", "pending"], """
Most transfers in GBP are sent through Faster Payments and arrive in seconds, but some stay in "Processing" for longer:

- Transfers above 1,000 GBP to a new recipient may be held for a short security review, usually less than 2 hours.
- SEPA transfers in EUR are sent in batches and complete by the end of the next working day.
- International transfers depend on cut-off times: if sent after 16:00 UK time or at the weekend, they start on the next working day and take 1 to 5 working days.
- We may ask you to confirm the purpose of the payment; check your notifications.

While a transfer is processing, the money is reserved from your balance. If a transfer has been processing for longer than the times above, contact us in chat with the recipient name and amount.
"""),
("terminate_account", "How to close your Northwind account", ["account", "closure"], """
You can close your account in the app at any time, free of charge.

1. Move your money out. Transfer every currency balance to another bank account, or exchange it to GBP first. We can't close an account with money in it.
2. Cancel any paid plan under Profile > Plan, and any scheduled transfers and Direct Debits.
3. Wait until pending card payments are completed.
4. Go to Profile > Account > Close account, choose a reason and confirm.

Your cards stop working immediately. Refunds that arrive after closure are returned to the sender. You can still download statements for up to 5 years at northwind.example/statements, and we keep your records for that long as required by law.

If you have a negative balance or an open dispute, the account stays open until it's settled.
"""),
("card_swallowed", "A cash machine kept my card", ["atm", "cards", "swallowed"], """
ATMs keep cards when a transaction times out, the card is damaged, or the PIN is entered wrongly too many times. The retained card is destroyed by the machine's owner for security reasons and can't be given back to you.

1. Freeze the card in the Cards tab right away, in case someone retrieves it.
2. Check the Home tab for a withdrawal at the time. If money was taken but you didn't get cash, report it on that transaction.
3. Order a replacement: tap the card, choose Manage > Replace card and then "Retained by ATM". Replacements for retained cards are free.

Your virtual card and Apple Pay or Google Pay keep working while you wait. Your new card will have a new number, so update any subscriptions linked to the old one.
"""),
("transaction_charged_twice", "A payment appears twice on my account", ["card-payments", "duplicates", "disputes"], """
Duplicate entries usually have one of these explanations:

- One entry is a pending authorisation and the other is the completed payment. The pending copy disappears within 7 days.
- The shop tried the payment twice because its terminal timed out. The failed attempt is released automatically.
- A hotel, petrol station or rental company took a deposit and then the final amount. The deposit is released after your stay or rental ends.

If both payments are completed and you only bought once, first ask the merchant to refund the second one, as this is usually fastest. If they won't, tap the duplicate on the Home tab and choose "Report an issue" and "I was charged more than once". We'll request the money back from the merchant through Mastercard, which can take up to 30 days.
"""),
("verify_source_of_funds", "Why are you asking where my money comes from?", ["verification", "source-of-funds", "regulation"], """
Anti-money laundering rules require us to understand where money in our customers' accounts comes from. We ask for proof of the source of funds when you receive or add a large amount, when your account activity changes significantly, or as part of a periodic review.

You'll get a notification with a secure upload link. Suitable documents include:

- Your last three payslips or an employment contract.
- Bank statements showing the money before it was sent to us.
- A sale contract for a house, car or business.
- A solicitor's letter for an inheritance, or a winnings statement for gambling.

Upload documents in Profile > Documents within 14 days. Until our review is complete, which usually takes 2 working days, some features may be restricted. If you don't provide documents, we may need to close your account.
"""),
("transfer_timing", "How long do transfers take to arrive?", ["transfers", "timing"], """
Arrival times depend on the currency and route:

- GBP to UK accounts (Faster Payments): usually within seconds, at any time of day, up to 2 hours.
- EUR to SEPA countries: by the end of the next working day, or within seconds if the receiving bank supports SEPA Instant.
- Other currencies and international transfers (SWIFT): 1 to 5 working days.

For international transfers, the cut-off time is 16:00 UK time on working days. Transfers sent after that, or at the weekend, start on the next working day. Bank holidays in either country add delay.

The app shows an estimated arrival time before you confirm, and a tracking view on each transfer. First-time payments to a new recipient may take a little longer because of security checks.
"""),
("reverted_card_payment?", "Card payments marked as reverted", ["card-payments", "reverted"], """
A payment shows as "Reverted" when the merchant asked us to reserve an amount but then cancelled it instead of completing it, or never completed it in time. The reserved money returns to your balance straight away, so you haven't been charged.

Common reasons are a cancelled order, an item that was out of stock, or a terminal that reserved the amount but the sale wasn't finalised. Hotels and petrol stations often revert a deposit once the final payment goes through.

Occasionally a merchant completes the payment late, after it has been reverted. In that case it appears again as a new completed payment, which is valid. If you think the goods weren't paid for, contact the merchant; if the amount was taken twice, report it on the transaction in the Home tab.
"""),
("change_pin", "How to change your card PIN", ["pin", "cards"], """
You can change your PIN at any cash machine in the UK that offers PIN services, which includes most bank ATMs:

1. Insert your card and enter your current PIN.
2. Choose PIN services, then Change PIN.
3. Enter a new 4-digit PIN twice.

The new PIN takes effect immediately for chip and PIN payments and withdrawals. Avoid obvious combinations such as 1234 or your birth year.

It isn't possible to change your PIN in the app or at most machines outside the UK. If you've forgotten your current PIN, you can view it in the app under Cards > Security > Show PIN. After three wrong attempts the PIN is blocked; follow the steps in our article on unblocking your PIN.
"""),
("beneficiary_not_allowed", "Why can't I send money to this recipient?", ["transfers", "recipients", "restrictions"], """
Some transfers are refused because of who or where the recipient is, not because of a problem with your account. We don't allow payments to:

- Cryptocurrency exchanges and trading platforms, unless they are on our approved list in the app.
- Recipients in countries under sanctions, or banks we can't send to.
- Accounts flagged in our fraud database.

A transfer can also be blocked when the name you entered doesn't match the account holder name, shown by Confirmation of Payee. Check the spelling with the recipient and try again.

If you see "This recipient isn't supported", the restriction can't be lifted by our team. For other messages, contact us in chat; we may ask what the payment is for. Your other transfers and card payments are not affected.
"""),
("transfer_fee_charged", "Transfer fees explained", ["transfers", "fees"], """
Transfers in GBP to UK accounts and in EUR to SEPA accounts are free. Fees apply to:

- International transfers in other currencies: a fixed fee between 0.30 and 3 GBP depending on the currency, shown before you confirm.
- Transfers that need a currency conversion above your fair usage allowance: 0.5% of the converted amount.
- SWIFT transfers where intermediary banks deduct their own charges. These are taken by the banks in the chain, not by Northwind, and reduce the amount your recipient gets.

To see exactly what you paid, tap the transfer on the Home tab and open Fees. If a fee doesn't match what was shown at confirmation, or a transfer failed and the fee wasn't returned, contact us in chat and we will refund it.
"""),
("receiving_money", "How can I receive money into my account?", ["receiving", "account-details", "salary"], """
You have local account details in two currencies, shown in Accounts > Account details:

- GBP: sort code and account number, for payments from UK banks, including your salary.
- EUR: an IBAN for SEPA payments from Europe.

Give these details to your employer or to anyone paying you. Payments in other currencies can reach you by SWIFT using the IBAN and our BIC; they are converted to the currency you choose on arrival, and the conversion counts towards your fair usage allowance.

Friends with Northwind accounts can send you money instantly by phone number. You can also share a payment link from Payments > Request money, which anyone can pay by card. Incoming Faster Payments arrive within minutes; SWIFT payments take 1 to 5 working days.
"""),
("failed_transfer", "My transfer failed: what happens to the money?", ["transfers", "failed"], """
A transfer fails when the receiving bank rejects it after it has left Northwind, for example because the account is closed, the name doesn't match, or the account can't receive that currency. The transfer then shows "Failed" or "Returned" on the Home tab.

The money is returned to your balance automatically, usually within 2 working days for GBP and EUR and up to 10 working days for international transfers. Any transfer fee is refunded. If a currency conversion was involved, the money comes back in the original currency at the rate of the day, so the amount may differ slightly.

Tap the failed transfer to see the reason given by the receiving bank. Check the details with your recipient before you send again. If the money isn't back in the times above, contact us in chat.
"""),
("transfer_into_account", "How to add money to your account by bank transfer", ["top-up", "bank-transfer", "account-details"], """
You can move money from another bank into Northwind with an ordinary bank transfer.

1. In the app, open Accounts > Account details and choose GBP or EUR.
2. Copy the sort code and account number, or the IBAN and BIC.
3. In your other bank's app, add a new payee with these details, using your own name as the payee name.
4. Send the amount you want.

Payments from UK banks usually arrive within minutes; SEPA transfers by the next working day. We don't charge for receiving money, and there's no limit on the amount, although large sums may prompt a source of funds check.

If you need money in your account immediately, adding money by debit card is instant. You can also add money at the Post Office with cash.
"""),
("verify_top_up", "Verifying a new card you use to add money", ["top-up", "verification", "cards"], """
The first time you add money with a new card, we may ask you to confirm that the card is yours. This protects you and the real cardholder from stolen card details being used for top-ups.

When verification is needed, we place a small temporary charge of less than 2 GBP on the card. The description of this charge in your card's banking app contains a 4-digit code, shown as NWB*1234. Enter that code in Accounts > Add money > Verify card within 7 days.

The temporary charge is released automatically, and your top-up is added to your balance as soon as the code is confirmed. You only need to verify each card once. If you can't see the charge, check your card's pending transactions or ask your bank for the full description.
"""),
("getting_spare_card", "Ordering an additional card for your account", ["cards", "additional-card"], """
You can have more than one physical card linked to the same account, for example a spare for travel or a card kept at home.

- Standard and Plus: up to 2 additional physical cards, 4.99 GBP each.
- Premium: up to 4 additional physical cards, free of charge.

To order one, open Cards, tap the plus sign, choose Physical card and then "Additional card". Each card has its own number and PIN and can be frozen separately, but all cards spend from the same balance.

Additional cards are for your own use and are issued in your name. To give someone else a card, they need their own account; for children aged 11 to 17, open a Northwind Junior account from Profile > Family.
"""),
("top_up_by_cash_or_cheque", "Can I add cash or deposit a cheque?", ["top-up", "cash", "cheques"], """
Yes. Both are available for GBP.

Cash at the Post Office:
1. Go to Accounts > Add money > Cash and generate a barcode.
2. At any Post Office counter, show the barcode and hand over the cash.
3. Keep the receipt. The money usually appears within 20 minutes.
Limits are 1,000 GBP per deposit and 3,000 GBP per month. A 1% fee applies on Standard and Plus; it's free on Premium.

Cheques:
1. Go to Accounts > Add money > Cheque.
2. Photograph the front of the cheque and enter the amount.
3. Write "Deposited with Northwind" and the date on the cheque and keep it for 30 days.
Only GBP cheques from UK banks, payable to you, up to 1,500 GBP each, can be deposited.
"""),
("order_physical_card", "How to order a physical card", ["cards", "physical-card", "ordering"], """
Every account starts with a virtual card. To get a plastic card for shops and cash machines:

1. Open the Cards tab and tap the plus sign.
2. Choose Physical card and pick a design.
3. Check your delivery address. Cards can be delivered to any address in the UK, EEA or Switzerland.
4. Choose standard or express delivery and confirm.

Your first physical card is free with standard delivery. Express courier delivery costs 4.99 GBP, free on Premium. Premium also offers a metal card design. Replacements for expired cards are always free.

You'll need to have verified your identity before ordering. Once the card arrives, your first chip and PIN payment activates it; your PIN is available in the app.
"""),
("virtual_card_not_working", "Virtual card declined online: what to check", ["virtual-card", "declined", "troubleshooting"], """
Virtual cards work for online payments and with Apple Pay or Google Pay, but there are some situations where they fail:

- The card was frozen, deleted or has reached its own spending limit. Check it in the Cards tab.
- A disposable virtual card has already been used once; a new one is generated after each payment.
- The billing address or cardholder name entered at checkout doesn't match your profile.
- The 3D Secure request wasn't approved in time. Open the app when you pay.
- Some merchants don't accept virtual cards, including many hotels, car rental firms and subscription services that need to charge later.
- Virtual cards can't be used at cash machines or for in-store chip payments.

Tap the declined payment on the Home tab to see the specific reason. If there's none, the payment never reached us.
"""),
("wrong_exchange_rate_for_cash_withdrawal", "Why did my cash withdrawal abroad cost more than expected?", ["atm", "exchange", "fees"], """
Several things can affect how much a foreign ATM withdrawal costs:

- The cash machine offered to convert the amount into pounds and you accepted. ATM operators use their own, usually much worse, rate. Always choose to be charged in the local currency.
- The operator added an access fee, shown on screen before you confirm. That fee is the operator's and we can't refund it.
- The withdrawal was made at the weekend, when our 0.5% weekend markup applies.
- You went over your plan's free withdrawal allowance, so a 2% fee was added.

The rate we used is shown when you tap the withdrawal on the Home tab. We convert at the rate at the time the operator settles the withdrawal, which can differ slightly from the pending amount. If you think our rate is wrong, tap "Report an issue".
"""),
("get_disposable_virtual_card", "Creating a disposable virtual card", ["disposable-card", "virtual-card", "security"], """
Disposable virtual cards are ideal for one-off purchases from websites you don't know well. The card number changes after every payment, so stolen details are useless.

1. Open the Cards tab and tap the plus sign.
2. Choose Virtual card and then Disposable.
3. Confirm with your passcode. Tap Show details to copy the number, expiry date and security code.

After you pay, the card is destroyed and a fresh one appears automatically. Disposable cards are available on all plans; the number you can create each day depends on your plan. They can't be used for subscriptions, recurring payments or at cash machines, and aren't supported in Apple Pay or Google Pay.
"""),
("top_up_failed", "Why did my card top-up fail?", ["top-up", "failed", "cards"], """
If adding money by card doesn't work, the app shows an error with the reason. Common causes:

- Your bank declined the payment. Many banks block the first payment to a new merchant; approve it in your bank's app or call them.
- The 3D Secure check wasn't completed in time.
- The card type isn't supported, for example American Express or a prepaid gift card.
- The card isn't in your name.
- You've reached the top-up limit for the day or the rolling 30 days.
- The card details were entered incorrectly or the card has expired.

A failed top-up doesn't take money from your card, although your bank may show a temporary hold that disappears within a few days. Try again once the cause is fixed, or add money by bank transfer instead.
"""),
("balance_not_updated_after_bank_transfer", "I sent money to my account, but my balance hasn't changed", ["bank-transfer", "balance", "top-up"], """
Payments from other banks reach us at different speeds:

- Faster Payments in GBP: usually within minutes, but the sending bank may hold a first payment to a new payee for up to 24 hours.
- SEPA in EUR: by the end of the next working day after the sending bank releases it.
- SWIFT international transfers: 1 to 5 working days.

Check with the sending bank that the payment has left, and that it used the exact details from Accounts > Account details. A payment with a wrong account number or a payee name that doesn't match may be returned to the sender.

If the expected time has passed, ask the sending bank for a payment confirmation showing the date, amount, our account details and the transaction reference. Send it to us in chat so we can trace the payment.
"""),
("cash_withdrawal_not_recognised", "There's a cash withdrawal I didn't make", ["atm", "fraud", "disputes"], """
If you see an ATM withdrawal you don't recognise, treat it as urgent:

1. Freeze your physical card in the Cards tab, so no more cash can be taken.
2. Check that the card is still with you. If it isn't, report it lost or stolen.
3. Tap the withdrawal on the Home tab and choose "I don't recognise this".

Tell us where you were at the time and whether anyone else knows your PIN. A withdrawal requires your PIN, so we'll ask some questions to understand how it happened. We cancel the card and send a free replacement with a new number and PIN.

Investigations are usually completed within 15 working days. Also report the theft to the police and give us the crime reference number if you have one.
"""),
("exchange_charge", "Are there fees for exchanging currencies?", ["exchange", "fees", "fair-usage"], """
Exchanging money in the app is free up to your plan's monthly fair usage allowance:

- Standard: 1,000 GBP per month.
- Plus: 3,000 GBP per month.
- Premium: no limit.

Above the allowance, a 0.5% fee applies to each exchange. The allowance includes card payments and cash withdrawals in currencies you don't hold, and resets on the first day of each month.

From Friday 22:00 to Sunday 22:00 UK time, a 0.5% markup is added to all exchanges because the currency markets are closed. Less traded currencies carry an extra 0.5% at all times.

Every fee is shown before you confirm an exchange. You can check how much of your allowance is left under Profile > Plan > Usage.
"""),
("top_up_by_card_charge", "Is there a fee for adding money by card?", ["top-up", "fees", "cards"], """
Adding money with a personal debit card issued in the UK or EEA is free.

A 0.5% fee applies to top-ups with:

- Credit cards, from any country.
- Commercial or business cards.
- Cards issued outside the UK and EEA.

The fee is shown in the Add money screen before you confirm and is deducted from the amount added, so a top-up of 100 GBP with a credit card adds 99.50 GBP. Some credit card issuers treat top-ups as a cash advance and charge their own fee and interest; check with your card issuer.

To avoid fees, add money with a UK or EEA debit card or by bank transfer, which is always free.
"""),
("activate_my_card", "How to activate your new card", ["cards", "activation"], """
Your physical card needs to be activated before it can be used in shops, and activation takes less than a minute.

1. Open the Cards tab. The new card appears with a label saying "Activate".
2. Tap Activate and scan the QR code on the letter that came with the card, or enter the 6-digit code printed on it.
3. Confirm with your passcode.

The card can now be used for online and chip and PIN payments. Contactless is switched on after your first chip and PIN payment or ATM withdrawal.

If you ordered a replacement, activating the new card cancels the old one automatically. If the app says the code is invalid, check that you're activating the card sent to you, not an older one, or contact us in chat.
"""),
("cash_withdrawal_charge", "Are there fees for using cash machines?", ["atm", "cash", "fees"], """
Each plan includes free cash withdrawals every month, in the UK and abroad:

- Standard: 200 GBP or 5 withdrawals per month, whichever comes first.
- Plus: 400 GBP per month.
- Premium: 800 GBP per month.

After that, a fee of 2% of the amount is charged, with a minimum of 1 GBP per withdrawal. The allowance resets on the first of each month.

Withdrawals in a currency you don't hold also use your exchange allowance. Independent ATM operators may add their own access fee, which is displayed on the machine's screen before you accept; we don't control or refund it. The app shows your remaining free allowance in Profile > Plan > Usage.
"""),
("card_about_to_expire", "Card renewal before expiry", ["cards", "expiry", "renewal"], """
We send a new card automatically about 30 days before your current one expires, to the address in your profile. Check that your address is correct in Profile > Personal details before then; you'll get a reminder in the app.

Your new card has the same card number but a new expiry date and security code. Once it arrives, activate it in the Cards tab; the old card keeps working until the end of its expiry month. Most subscriptions update automatically through the Mastercard updater service, but some merchants need the new expiry date.

Renewal cards are free. If you've moved abroad or want to collect a card elsewhere, you can order it early from Cards > Manage > Renew card, where you can also change the delivery address.
"""),
("apple_pay_or_google_pay", "Adding your card to Apple Pay or Google Pay", ["apple-pay", "google-pay", "mobile-payments"], """
You can pay with your phone or watch using any Northwind card except disposable cards.

Apple Pay:
1. In the Cards tab, tap the card and choose "Add to Apple Wallet".
2. Follow the steps on screen. The card is ready in seconds.

Google Pay:
1. In the Cards tab, tap the card and choose "Add to Google Pay".
2. Confirm in Google Wallet.

You can also add a card from Wallet or Google Wallet by typing its details; you'll then be asked to confirm with a code in the Northwind app.

Mobile payments work even before your physical card arrives. There's no contactless limit for phone payments in most shops, as they are verified with your fingerprint, face or passcode. Supported devices are iPhone with Face ID or Touch ID, Apple Watch and Android phones with NFC running Android 9 or later.
"""),
("verify_my_identity", "How to verify your identity", ["verification", "sign-up"], """
You'll be asked to verify your identity when you sign up, and it usually takes about 10 minutes.

1. Have a valid passport, national identity card or photo driving licence ready.
2. In the app, go to Profile > Verify identity, or follow the prompt on the Home tab.
3. Take a photo of your document when asked. For identity cards and licences, photograph both sides.
4. Record a short selfie video, following the instructions on screen.
5. Confirm your personal details and home address.

Most checks are approved within a few minutes. Sometimes a manual review is needed, which can take up to 48 hours; we'll notify you when it's complete. Once verified, you can send and receive money without the initial 250 GBP limit and order a physical card.
"""),
("country_support", "Which countries can I open an account in?", ["eligibility", "countries"], """
You can open a Northwind account if you live in the United Kingdom, a country of the European Economic Area or Switzerland, with a residential address and a valid identity document. We're not yet available to residents of the United States, Canada, Australia or other countries outside Europe.

Your nationality doesn't matter, only where you live. Temporary addresses such as hotels or PO boxes are not accepted.

Once your account is open, you can use your card and send money in more than 200 countries. If you move to another supported country, update your address in Profile > Personal details. If you move outside the supported area, you can keep your account for up to 6 months, after which we may ask you to close it.
"""),
]

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

PP_ARTICLES = [
("KB-track-order", "order_status", "How to track your order", ["orders", "tracking", "delivery"], """
You can follow every order from your account. Sign in, open My orders and choose the order; each item shows its status: Received, Being prepared, Dispatched, Out for delivery and Delivered. When a parcel leaves our warehouse we email you a tracking link from the courier, usually DPD or Evri, and a text message on the day of delivery.

If you checked out as a guest, use the "Track an order" link at the bottom of any page and enter your order number and the email address you used.

Tracking can take up to 24 hours to show the first scan after dispatch, so "label created" for a day is normal. Large furniture is delivered by our own two-person team; its status shows "Awaiting delivery booking" until you choose a slot.
"""),
("KB-dispatch-times", "order_status", "When will my order be dispatched?", ["orders", "dispatch", "delivery-times"], """
Dispatch time depends on the item, and each product page shows its own estimate:

- In-stock small items: dispatched within 1 working day. Orders placed before 8pm for next-day delivery leave the same evening.
- Large furniture from our warehouse: ready for delivery booking within 3 to 5 working days.
- Made-to-order sofas, beds and tables: produced in 4 to 6 weeks, sometimes 8 weeks in busy periods.
- Pre-order items: dispatched from the date shown on the product page.

Standard delivery then takes 2 to 4 working days, and next-day delivery arrives the following working day. If your order contains a mix of these, items are sent as soon as each one is ready.

My orders always shows the latest estimated date for each item. We'll email you if an estimate changes.
"""),
("KB-split-orders", "order_status", "Why has only part of my order arrived?", ["orders", "parcels", "split-shipment"], """
Orders with several items are often sent in more than one parcel. Items are stored in different warehouses, large pieces travel with our two-person delivery team, and made-to-order products are dispatched when they are finished. Each parcel has its own tracking link and may come with a different courier on a different day.

To see what's still on its way, open My orders and choose the order. Every item is listed with its own status and tracking number. The dispatch email also lists the items in that parcel.

You only pay delivery once per order, however many parcels it arrives in. If an item shows as Delivered but wasn't in any parcel you received, please report it as missing from My orders within 14 days, so we can check the packing record.
"""),
("KB-delivered-not-received", "delivery_problem", "My tracking says delivered, but I haven't received the parcel", ["delivery", "missing-parcel", "courier"], """
Before reporting a missing parcel, please:

1. Open the tracking link. Couriers often add a photo of where the parcel was left or the name of the person who signed.
2. Check around your property, with neighbours, in a porch, bin store or building reception.
3. Wait until the end of the next working day; parcels are sometimes scanned as delivered a little early.

If it still hasn't turned up, go to My orders, choose the order and tap "Report a problem" > "Marked as delivered but not received" within 7 days of the delivery date. We open an investigation with the courier, which takes up to 5 working days. If the parcel can't be found, we send a replacement or a full refund, whichever you prefer. You don't need to contact the courier yourself.
"""),
("KB-missed-delivery", "delivery_problem", "I missed my delivery. How do I rearrange it?", ["delivery", "redelivery", "courier"], """
If nobody was in, the courier leaves a card or sends a message with the options available:

- DPD: rearrange delivery for another day, choose a safe place or a neighbour, or collect from a DPD Pickup shop, using the link in the message or the DPD app.
- Evri: the parcel is usually left in a safe place or taken to a nearby ParcelShop, where it waits for 10 days.
- Royal Mail: collect from the delivery office shown on the card, with photo ID, after 24 hours.

Couriers try up to three times before returning a parcel to us. When a parcel comes back unclaimed, we refund the items once it arrives at our warehouse; the original delivery charge is not refunded.

For two-person furniture deliveries, a missed slot can be rebooked from My orders. A second missed slot carries a 25 GBP redelivery charge.
"""),
("KB-late-delivery", "delivery_problem", "My order is late. What can I do?", ["delivery", "late", "courier"], """
Sometimes parcels are delayed by weather, high volumes or a missed scan at a courier depot. Tracking may not update for a day or two while a parcel is in transit, and that doesn't mean it's lost.

If your order is 3 working days past the estimated delivery date shown in My orders, please report it: choose the order, tap "Report a problem" and then "My parcel is late". We ask the courier to locate it. If they can't find it within 5 working days, we'll send a replacement or refund you in full.

If you paid for next-day delivery and it arrived late, we refund the next-day charge automatically once the courier confirms the delay. For furniture deliveries, our team calls you if your booked slot needs to move; you can also rebook a different slot in My orders.
"""),
("KB-large-item-delivery", "delivery_problem", "How does two-person furniture delivery work?", ["furniture", "delivery-slot", "two-person"], """
Sofas, beds, wardrobes, tables and other large items are delivered by our own two-person team, free on orders over 500 GBP and 39 GBP otherwise.

When your item is ready, we email and text you a link to choose a delivery day. The day before delivery you receive a 4-hour time window, and on the day a 1-hour window with the driver's live location.

The team brings the item to the room of your choice, unwraps it and takes the packaging away. They can't take items through windows or over balconies, so please measure doorways, stairs and lifts first. Assembly is not included unless you added our assembly service at checkout.

You can move your slot up to 48 hours before delivery from My orders, free of charge. Inspect the item before the team leaves and note any damage on the driver's device.
"""),
("KB-damaged-item", "damaged_item", "My item arrived damaged", ["damaged", "replacement", "refund"], """
We're sorry when an item reaches you damaged. Please report it within 14 days of delivery, or within 48 hours for furniture delivered by our team.

1. Take clear photos of the damage, the whole item, and the outer packaging including the shipping label.
2. In My orders, choose the item, tap "Report a problem" and then "Arrived damaged".
3. Upload the photos and tell us whether you'd prefer a replacement or a refund.

For small items we usually don't need the damaged one back; we'll tell you if we do and send a free returns label. For furniture, we arrange collection of the damaged piece when we deliver the replacement.

If only a minor part is damaged, such as a chair leg or a lamp shade, we can often send the part straight away, or offer a partial refund if you want to keep the item as it is.
"""),
("KB-wrong-missing-item", "damaged_item", "I received the wrong item or something is missing", ["wrong-item", "missing-item", "orders"], """
If your parcel contains something you didn't order, or an item, part or fixings pack is missing, please let us know within 14 days of delivery.

First, check My orders: items from the same order can arrive in separate parcels and on different days, so a missing item may still be on its way. Furniture fixings are sometimes packed inside a drawer or taped to the back of a panel.

To report it, choose the order, tap "Report a problem" and then "Wrong item" or "Missing item". For a wrong item, add a photo of it and of its label. We'll send the right item as soon as possible and email a free returns label for the wrong one, which you can drop off at any Evri ParcelShop. Missing screws and fittings are sent by first-class post within 2 working days.
"""),
("KB-faulty-item", "damaged_item", "My product has stopped working or developed a fault", ["faulty", "guarantee", "repair"], """
All our products come with a 1-year guarantee, and furniture with a 2-year guarantee, covering manufacturing faults. Examples include a lamp that stops working, a drawer runner that breaks, a sofa seam that splits or a non-stick coating that peels under normal use. Wear and tear, accidental damage and misuse are not covered.

To make a claim, go to My orders, choose the item and tap "Report a problem" > "Faulty item". Describe the fault and add photos, or a short video for electrical items. Our product team replies within 2 working days.

Depending on the fault, we'll send a replacement part, arrange a repair technician, replace the product or refund you. In the first 30 days after delivery you can also simply return a faulty item for a full refund. Your statutory rights under consumer law are not affected.
"""),
("KB-start-return", "return_refund", "How do I return an item?", ["returns", "refunds"], """
You can return most items within 30 days of delivery for a full refund, as long as they're unused and in their original packaging.

1. Sign in and open My orders, or use "Start a return" with your order number if you checked out as a guest.
2. Choose the items and a reason for returning them.
3. Pick a drop-off option. Returns of small items are free at any Evri ParcelShop or locker using the QR code we email you; no printer needed.
4. Pack the items securely and drop them off within 14 days.

Keep your proof of drop-off until the refund arrives. Large furniture needs a collection instead; see our article on returning large items. Gifts can be returned by the recipient using the gift receipt; the refund goes to the original payment method.
"""),
("KB-refund-timing", "return_refund", "When will I get my refund?", ["refunds", "timing", "payments"], """
Once your return reaches our warehouse, we check it and process the refund within 5 working days. You get an email as soon as the refund is issued. Returns usually take 2 to 3 working days to reach us from a ParcelShop.

The refund goes back to the original payment method:

- Debit and credit cards: 3 to 5 working days after we issue it, depending on your bank.
- PayPal: usually within 24 hours.
- Pay in 3: your instalment plan is reduced or cancelled, and any payments already made are returned to your card.
- Gift cards and store credit: immediately.

Original delivery charges are refunded if you return the whole order within 30 days. If your refund hasn't arrived within 10 working days of our email, contact us with your order number and we'll give you the bank reference to trace it.
"""),
("KB-large-item-returns", "return_refund", "Returning furniture and other large items", ["returns", "furniture", "collection"], """
Large items can't go to a ParcelShop, so we collect them from your home.

1. Start the return in My orders within 30 days of delivery.
2. Choose a collection day; our two-person team collects on weekdays between 7am and 7pm.
3. Have the item ready in its original packaging if you still have it, or otherwise protected with blankets, and disassembled if it came flat-packed.

A collection charge of 25 GBP is deducted from your refund for change-of-mind returns. Collection is free if the item was damaged, faulty or not as described.

Items that have been assembled can be returned if they're undamaged, but the team can't dismantle furniture for you. Made-to-order furniture, such as sofas in a fabric you chose, can only be returned if faulty. Refunds are issued once the item is back at our warehouse.
"""),
("KB-non-returnable", "return_refund", "Which items can't be returned?", ["returns", "exclusions", "hygiene"], """
For hygiene and safety reasons, some items can't be returned unless they are faulty:

- Pillows, duvets and mattress toppers once removed from their sealed packaging.
- Mattresses that have been unwrapped, unless they are covered by a trial stated on the product page.
- Personalised and monogrammed products.
- Made-to-order and made-to-measure furniture, blinds and curtains.
- Cut fabric, wallpaper sold by the metre and sample packs.
- Gift cards.

Clearance and sale items can be returned like any other item within 30 days. Items damaged after delivery through use or assembly errors can't be accepted back.

These exclusions don't affect your rights if a product is faulty or not as described; you can always report a problem with any item from My orders.
"""),
("KB-payment-declined", "payment_failed", "Why was my payment declined at checkout?", ["payments", "checkout", "declined"], """
When a payment doesn't go through, the reason usually comes from your bank rather than from us. Check these common causes:

- The billing address doesn't match the address your bank holds for the card. Enter it exactly, including the postcode.
- Your bank's security check (3D Secure) wasn't completed. Keep your banking app open and approve the request.
- The card has expired or the security code was mistyped.
- Your bank blocked the payment as unusual, especially for large furniture orders. Call the number on your card to approve it.
- Not enough available funds or credit limit.

We accept Visa, Mastercard, American Express, PayPal, Apple Pay, Google Pay and Pay in 3. If a payment fails twice, try another method or wait for your bank's confirmation rather than retrying many times, as each attempt can place a temporary hold.
"""),
("KB-charged-failed-order", "payment_failed", "I was charged but my order didn't go through", ["payments", "pending", "double-charge"], """
When a payment attempt fails or checkout is interrupted, your bank may still show the amount as pending. This is a temporary authorisation, not a charge. We don't take the money unless an order is created, and the hold is released automatically by your bank, usually within 3 to 7 working days.

To check whether an order was placed, look for a confirmation email, including in spam, or open My orders. If there's an order, it's safe to keep it; if not, no order exists and you can place it again.

If you see two payments for a single order, one is normally the pending hold from a failed attempt. If both are still showing as completed after 7 working days, send us a screenshot of your bank statement with the order number and we'll investigate and refund any duplicate immediately.
"""),
("KB-pay-in-3", "payment_failed", "How does Pay in 3 work?", ["pay-in-3", "payments", "instalments"], """
Pay in 3 lets you split an order between 30 and 1,500 GBP into three interest-free monthly payments. It's provided by our lending partner, Paylater Ltd, who makes the approval decision.

Choose Pay in 3 at checkout, and you'll be asked a few questions and for a debit card. The first instalment is taken when the order is dispatched and the next two at 30-day intervals.

If Pay in 3 is declined, the decision is made by Paylater based on their checks, and our team can't override it or see the reason. You can contact Paylater through their app, or choose another payment method.

Returns and refunds reduce your remaining instalments first. Manage your plan, change the card or pay early in the Paylater app. Late payments may incur a fee from Paylater.
"""),
("KB-promo-code-not-working", "promo_code", "Why isn't my discount code working?", ["promo-codes", "discounts", "checkout"], """
Enter codes in the "Discount code" box on the basket page, not at payment. If a code is rejected, the message explains why. The most common reasons are:

- The code has expired, or was a one-time code that has already been used.
- The basket doesn't reach the minimum spend. The minimum applies after other discounts and excludes delivery.
- Some items are excluded, such as sale items, clearance furniture, gift cards or certain brands. Only eligible items are discounted.
- Only one code can be used per order.
- The code was sent to a different email address than the account you're signed in with.

Codes can't be added after an order has been placed, and they can't be exchanged for cash. If you believe a code should work, send us the code and a screenshot of your basket before ordering.
"""),
("KB-welcome-student-discounts", "promo_code", "Welcome, student and referral discounts", ["discounts", "newsletter", "student"], """
New customers who sign up to our newsletter get a 10% welcome code for their first order, emailed within an hour. The code is valid for 30 days on orders over 40 GBP and can't be combined with other codes. If it doesn't arrive, check your spam folder and make sure you haven't unsubscribed.

Students get 15% off everything except sale items. Verify your student status through the Student link in the footer; a unique code is issued each time you shop.

When you refer a friend from My account > Refer a friend, they get 15 GBP off their first order over 75 GBP, and you receive a 15 GBP voucher once their order has been delivered and the 30-day return window has passed. Vouchers are valid for 12 months.
"""),
("KB-price-drop", "promo_code", "The price dropped after I ordered. Can I get the difference?", ["pricing", "price-drop", "refunds"], """
If the price of an item on parcelpoint.example drops within 7 days of your order, we'll refund the difference once per item. Contact us with your order number and a link to the product. This applies to our own price reductions only, not to discount codes, flash sales lasting less than 24 hours, or prices on other websites.

We don't price-match other retailers.

If the order hasn't been dispatched, you can also cancel and reorder at the new price, though furniture stock may no longer be available.

For promotions such as "spend 100 GBP, get 20 GBP off", the discount applies only to orders placed while the promotion is live. We can't apply a promotion that started after you ordered.
"""),
("KB-reset-password", "account_login", "I forgot my password", ["account", "password", "sign-in"], """
To reset your password:

1. Go to Sign in and click "Forgot your password?".
2. Enter the email address on your account.
3. Open the email from Parcelpoint and click the reset link. It expires after 30 minutes and can be used only once.
4. Choose a new password of at least 10 characters.

If the email doesn't arrive within 10 minutes, check your spam and promotions folders, and make sure you're using the address you registered with. If you signed up with Google or Apple, you don't have a Parcelpoint password; use the "Continue with Google" or "Continue with Apple" button instead.

Reset links sent earlier stop working when you request a new one, so always use the most recent email.
"""),
("KB-account-locked", "account_login", "I can't sign in to my account", ["account", "sign-in", "locked"], """
If signing in fails, try the following:

- After 5 incorrect password attempts, your account is locked for 15 minutes for security. Wait and try again, or reset your password.
- Make sure you're using the same sign-in method as when you registered. Accounts created with Google or Apple must sign in with the same button.
- Clear your browser's cookies for parcelpoint.example or try another browser; an old session can cause a loop back to the sign-in page.
- If you placed an order as a guest, you don't have an account yet. Create one with the same email and your previous orders will appear.
- Our app requires version 5.2 or later. Update it from your app store.

If we sent you a security code by email, it's valid for 10 minutes. If you think someone else has accessed your account, reset your password and contact us.
"""),
("KB-manage-account", "account_login", "Changing your email address or deleting your account", ["account", "email", "privacy"], """
To change the email address you sign in with, go to My account > Personal details > Email, enter the new address and your password, and confirm with the link we send to the new address. Order updates go to the new email from then on.

You can have only one account per email address. If you have two accounts, we can't merge them, but orders placed as a guest are added automatically to an account created with the same email.

To stop marketing emails, use the unsubscribe link or My account > Preferences. You'll still get emails about your orders.

To delete your account, go to My account > Privacy and choose "Delete my account". We remove your details within 30 days, except order records we must keep for tax purposes. Open orders and returns must be complete first.
"""),
("KB-product-dimensions", "product_question", "Checking sizes, dimensions and materials", ["products", "dimensions", "materials"], """
Every product page has a Specifications tab with the item's height, width and depth in centimetres, its weight and the materials used. For sofas and beds you'll also find the seat height, the size of the largest box, and a diagram with measurements.

Before ordering furniture, measure the doorways, corridors, stairs and lifts the item must pass through. The largest box or the item's diagonal depth must fit through the narrowest point. Our delivery team can't remove doors or carry items through windows.

Colours can look different on screens. Free fabric and wood swatches are available for most sofas and tables: choose "Order free swatches" on the product page and they arrive within 3 working days.

If a measurement you need isn't listed, ask us from the product page and we'll check with the manufacturer.
"""),
("KB-assembly", "product_question", "Assembly instructions and assembly service", ["assembly", "instructions", "furniture"], """
Flat-packed furniture comes with printed instructions and a labelled fixings pack. You can also download the instructions as a PDF from the Specifications tab on the product page, and many items have an assembly video.

Most items need only the tools supplied. The product page shows the estimated assembly time and whether two people are needed.

If you'd rather not build it yourself, add our assembly service at checkout, from 45 GBP per item, or add it later from My orders up to 48 hours before delivery. Assembly is carried out by our partner's fitters on the day of delivery or a day you choose.

If a part or screw is missing, don't force the item together; report it from My orders and we'll post the part within 2 working days. Wall-fixing kits for tall units are supplied, but wall plugs must suit your wall type.
"""),
("KB-care-cleaning", "product_question", "Caring for and cleaning your products", ["care", "cleaning", "products"], """
Care instructions are on the label of each product and in its Specifications tab. General guidance:

- Upholstery: vacuum regularly with a soft brush. Blot spills immediately with a clean cloth; don't rub. Removable covers should be dry-cleaned unless the label says machine washable at 30 degrees.
- Solid wood and veneer: dust with a dry cloth, use coasters and keep away from radiators and direct sunlight. Oil oak furniture every 6 to 12 months with the oil recommended on the page.
- Bedding and towels: wash before first use, at the temperature on the label, and avoid fabric softener on towels.
- Cast iron and stoneware: check whether they are dishwasher and oven safe on the product page before use.

Damage caused by not following the care instructions isn't covered by the guarantee.
"""),
("KB-back-in-stock", "product_question", "When will an item be back in stock?", ["stock", "availability", "notifications"], """
If a product is out of stock, the product page shows either an expected date or "Currently unavailable". Click "Notify me" and we'll email you as soon as it's available again. Notifications are sent in the order people signed up, and popular items can sell out quickly.

Expected dates come from our suppliers and may change. Our customer team sees the same information as the website, so we can't reserve stock or give a more precise date.

Some items can be pre-ordered: you pay now and the item is dispatched from the date shown. You can cancel a pre-order free of charge at any time before dispatch.

Discontinued items are marked "No longer available" and won't be restocked, but we often suggest similar products on the same page.
"""),
("KB-cancel-order", "cancellation", "How do I cancel my order?", ["cancellation", "orders", "refunds"], """
You can cancel an order or individual items yourself until they've been dispatched:

1. Open My orders and choose the order.
2. Click "Cancel items", select the items and give a reason.
3. You'll receive a confirmation email, and your refund is issued straight away to your original payment method.

Once an item shows "Being prepared" it may be too late to stop it; the cancel button disappears when the warehouse has started packing. In that case, let the parcel be delivered and start a free return, or refuse the delivery at the door, and we'll refund you when it comes back.

Card refunds for cancellations take 3 to 5 working days to appear. If you paid with Pay in 3, the plan is cancelled and any payment already taken is returned. Made-to-order items follow different rules.
"""),
("KB-cancel-made-to-order", "cancellation", "Cancelling made-to-order furniture", ["cancellation", "made-to-order", "furniture"], """
Made-to-order sofas, beds and tables are produced for you in the size, fabric and finish you choose, so they follow different cancellation rules from our other products.

- Within 48 hours of ordering, you can cancel free of charge from My orders.
- After 48 hours, production has started and the order can't be cancelled, as the item can't be resold. This doesn't affect your rights if the item arrives damaged or faulty.
- If we tell you the delivery estimate has moved by more than 2 weeks, you can cancel with a full refund at that point.

You can still change the delivery address or delivery slot at any time before delivery. If you need to postpone delivery, for example because of building work, we can store a finished item for up to 4 weeks at no cost.
"""),
("KB-change-delivery-address", "address_change", "Changing the delivery address on an order", ["address", "orders", "delivery"], """
You can change the delivery address while your order shows "Received" in My orders: choose the order, click "Change delivery address" and select or enter the new address. The new address must be in the UK mainland; delivery charges may change for Highlands, islands and Northern Ireland.

Once the order is "Being prepared" or "Dispatched", we can't change the address in our system, because the label has already been printed. See our article on redirecting a parcel for the options at that stage.

For furniture delivered by our team, you can change the address up to 48 hours before the delivery slot, as long as it's within the same delivery area; otherwise we'll rebook the delivery.

To update the address saved for future orders, go to My account > Addresses. Changing it there doesn't affect orders already placed.
"""),
("KB-redirect-parcel", "address_change", "Redirecting a parcel that has already been dispatched", ["address", "redirect", "courier"], """
After dispatch, the parcel's address is held by the courier, and only the courier can change where it goes.

- DPD: open the tracking link or the DPD app and choose "Change delivery", where you can deliver to a neighbour, a safe place, a DPD Pickup shop or, in some cases, a different address.
- Evri: you can choose a safe place or a ParcelShop, but Evri doesn't allow a change to a different home address.
- Royal Mail: redirection isn't possible for individual parcels.

If the address on the order was wrong and the courier can't redirect the parcel, it will normally be returned to us after failed delivery attempts. We refund it when it arrives, or send it again to the right address if you ask us. Please don't ask somebody at the old address to refuse the parcel; that can take longer.
"""),
]

# Customer-message templates, by category. T(article, subjects, body, sev):
# article = the KB external_id that answers it (None when no article does);
# subjects separated by "|"; sev=1 means the problem itself is serious
# enough that priority is at least "high". {slots} are filled per ticket.
PP_TEMPLATES = {
"order_status": [
T("KB-track-order", "Where is my order?|Order {order} status|Any update on my order", "Hi, I ordered a {product} {ago} and haven't had any update. Order number {order}. Can you tell me where it is?"),
T("KB-track-order", "where is my order|order??", "where is my order {order}"),
T("KB-track-order", "Tracking link not working|Can't track parcel", "The tracking link in the dispatch email just says label created and it's been like that since {when}. Is it actually on the way? Order {order}."),
T("KB-track-order", "Order tracking|No tracking info", "I checked out as a guest so I don't have an account. How do I see where my order is? I only have the confirmation email with {order} on it."),
T("KB-dispatch-times", "When will my order be dispatched?|Still not dispatched", "My order {order} still says 'being prepared' after {days} days. The website said dispatched within 1 working day. When will it actually ship?"),
T("KB-dispatch-times", "Delivery date for sofa|When does my sofa arrive", "Hello. I ordered the {product_big} {ago}. The product page said made to order but I can't remember how long that takes and the order page doesn't show a date. We're trying to plan around it as we have family visiting. Could you give me an estimate?"),
T("KB-dispatch-times", "Pre-order question|When will pre-order ship", "I pre-ordered the {product} and I'm wondering when it'll ship, I've been charged already."),
T("KB-dispatch-times", "Expected delivery date changed|Why has my delivery date moved", "I just got an email saying the estimated date for my {product_big} has moved back by two weeks. That's the second time. What's going on with it? Order {order}."),
T("KB-split-orders", "Only part of my order arrived|Missing items from order", "Got a parcel today but it only had the {product} in it. The rest of the order ({product2}) wasn't there. Is it coming separately? Order {order}."),
T("KB-split-orders", "Two parcels?|Received one of two parcels", "Hi there, I ordered 3 things and one parcel came with Evri, but the email mentions DPD as well. Do I need to wait for another delivery? The packing slip only lists one item."),
T("KB-split-orders", "Do I pay delivery twice?|Charged delivery for each parcel?", "My order is coming in 3 separate parcels apparently. Am I going to be charged delivery for each one? I only paid once at checkout."),
T("KB-track-order", "Order status says delivered??|Says out for delivery all day", "Order {order} has said 'out for delivery' since 7am and now it's nearly 9pm. Is it still coming today or should I stop waiting in?", 0),
T(None, "Combine my orders|Can you send orders together", "I placed two orders, {order} and {order2}, a day apart. Is it possible to send them together in one delivery? I'm only home on certain days."),
T(None, "Order confirmation not received|No confirmation email", "I placed an order {when} and got charged {amount} but never received a confirmation email. Can you resend it to me? Not sure if the order went through properly or not."),
T("KB-dispatch-times", "next day delivery?|Ordered next day delivery", "I paid for next day delivery {when} at about 6pm and it still hasn't been dispatched this morning. I need it for the weekend. Order {order}.", 1),
],
"delivery_problem": [
T("KB-delivered-not-received", "Parcel marked delivered but not received|Not received - says delivered", "My tracking says my parcel was delivered {when} but I never got it. Nobody in my house signed for anything and the neighbours don't have it. Order {order}.", 1),
T("KB-delivered-not-received", "Parcel delivered to wrong house?|Delivery photo is not my door", "The delivery photo from {courier} shows a door that isn't mine. It's a {product} so not cheap. What do I do now? I've knocked on a few doors on the street already.", 1),
T("KB-delivered-not-received", "missing parcel|Where is my parcel", "says delivered. its not here. {order}"),
T("KB-delivered-not-received", "Parcel left outside and gone|Stolen parcel?", "Good afternoon. The courier left my parcel on the doorstep {when} even though I had asked for it to go to a neighbour, and by the time I got home from work it was gone. I think it was stolen. I'd like a replacement please, this was a gift for my mum's birthday. Order number is {order}."),
T("KB-missed-delivery", "Missed delivery|Rearrange delivery", "I was out when {courier} tried to deliver {when}. How do I get them to come back? I can't find a card."),
T("KB-missed-delivery", "Parcel at depot|Collect from depot?", "Got a card through the door saying my parcel is at the delivery office. Can I collect it or does someone else need to? I work until 6 every day so I can't be in for redelivery."),
T("KB-missed-delivery", "Missed furniture delivery slot|Rebook delivery slot", "We missed the delivery slot for our {product_big} {when}, the driver came early and we were at the school run. Can we rebook? I saw something about a redelivery charge which doesn't seem fair as they came outside the window."),
T("KB-late-delivery", "Late delivery|Order late", "My order was supposed to arrive {ago} and it still hasn't come. The tracking hasn't moved in days. Order {order}.", 0),
T("KB-late-delivery", "Next day delivery arrived late|Refund for next day delivery", "I paid £6.95 for next day delivery and it turned up three days later. I'd like the delivery charge back please. Order {order}."),
T("KB-late-delivery", "Stuck in depot|Tracking not updating", "Hi, my parcel has been 'at the local depot' for 5 days now. {courier} customer service just tells me to contact the retailer. I ordered a {product} and a {product2} and need them by the weekend as we move in on {weekday}. Can you chase this please?", 1),
T("KB-large-item-delivery", "Delivery slot for sofa|How do I book my delivery", "I got an email saying my {product_big} is ready but I don't see where to choose a date. Also, will they carry it upstairs? I'm on the second floor with no lift."),
T("KB-large-item-delivery", "Will the delivery team assemble the bed?|Delivery question", "Quick question, does the two-man delivery include building the {product_big} and taking away the packaging? And can I change the day I booked?"),
T(None, "Complaint about delivery driver|Rude driver", "I want to complain about the driver who delivered my order {when}. He threw the parcel over my side gate and was really rude when I said something. The item seems OK but that's not the point. I'd like this passed on."),
T("KB-late-delivery", "Furniture delivery didn't turn up|No-show delivery", "We waited in all day for our {product_big} delivery {when}, took a day off work, and nobody came. No call, no text. This is not acceptable. When is it coming and what are you going to do about my lost day?", 1),
T(None, "Deliver to my workplace?|Delivery to office", "Can I have future parcels delivered to my office instead of home? Do the couriers deliver to business addresses on Saturdays?"),
],
"damaged_item": [
T("KB-damaged-item", "Item arrived damaged|Damaged on delivery", "My {product} arrived damaged {when}. The box was crushed on one corner and the item is cracked. I have photos. Order {order}. Can I get a replacement?"),
T("KB-damaged-item", "Broken|smashed", "{product} smashed in the box. want a refund"),
T("KB-damaged-item", "Scratched table|Damage found after delivery team left", "Hi, the delivery team brought our {product_big} {when} and it was all wrapped, so we didn't check it while they were here. When we unwrapped it there's a deep scratch along one side. I know you say to check before they leave but it was fully wrapped. What can we do?"),
T("KB-damaged-item", "Chair leg broken|Part damaged", "One of the legs on the {product_big} is split. The rest of it is fine. Do I have to send the whole thing back or can you send a new leg?"),
T("KB-damaged-item", "Damaged in transit - photos attached|Damaged parcel", "Attached are photos of the damage and the box as requested on your website. Everything else in the order was fine, just the {product}. I'd prefer a refund rather than a replacement as I've bought one locally now. Order {order}, {amount}."),
T("KB-wrong-missing-item", "Wrong item received|Not what I ordered", "I ordered a {product} but received something completely different (a {product2}). Order {order}. Please send the right one and tell me how to send this back."),
T("KB-wrong-missing-item", "Missing screws|Fixings missing", "The fixings bag for my {product_big} is missing the cam locks and half the screws. Can't finish building it. Can you post them?"),
T("KB-wrong-missing-item", "Item missing from parcel|Wrong colour", "The {product} came in the wrong colour, I chose the grey and it's cream. Also the box said 2 items but there was only one inside."),
T("KB-faulty-item", "Lamp stopped working|Faulty product", "The {product_lamp} I bought {months} ago has stopped working. Changed the bulb, tried different sockets, nothing. Is it still under guarantee?"),
T("KB-faulty-item", "Sofa seam split|Quality issue", "We've had our {product_big} for about {months} and a seam on the seat cushion has split open. It's only used normally by two adults, no pets. Really disappointed, it wasn't cheap. What are our options?"),
T("KB-faulty-item", "Non-stick coming off|Pan coating peeling", "The coating on my {product_pan} is peeling off after a few weeks. I've only washed it by hand. This can't be normal. Order {order}. Refund or replacement please."),
T("KB-faulty-item", "Drawer broken|Drawer runner broke", "drawer runner on my {product_big} has snapped, the drawer just falls out now. bought it {months} ago. can someone come and fix it"),
T(None, "Smell from rug|Strong smell", "The {product_rug} we got has a really strong chemical smell, it's been a week and it's still there. Is that normal or is something wrong with it? Would rather not return it if it will go away."),
T("KB-damaged-item", "Damaged and dangerous|Glass broken in parcel", "The {product_mirror} arrived with the glass shattered inside the box, there's glass everywhere. My kids nearly opened it. I need someone to sort this today please, and I'm not happy about how it was packed.", 1),
],
"return_refund": [
T("KB-start-return", "How do I return an item?|Return request", "Hi, I'd like to return the {product} from order {order}. It's unused, still in the box. How do I do this?"),
T("KB-start-return", "return|Return label", "how do i return something, i dont have a printer"),
T("KB-start-return", "Returning a gift|Gift return", "I received a {product} as a gift but it's not really my style. Can I return it for a refund without the person who bought it finding out? I don't have an order number, only the gift note."),
T("KB-start-return", "Return window|Is it too late to return?", "I received my order about 3 weeks ago. Can I still send the {product} back? The delivery was late by the way so I've only had it for a bit."),
T("KB-refund-timing", "Where is my refund?|Refund not received", "I sent my return back {ago} and still haven't had my refund. Tracking shows you received it. Order {order}, {amount}."),
T("KB-refund-timing", "Refund status|How long for refund", "How long does a refund take once you get the item back? I returned the {product} via Evri on {weekday}."),
T("KB-refund-timing", "Refund to PayPal|Refunded to wrong card?", "My card was replaced after I ordered so the old one doesn't exist anymore. Where will my refund go? It was {amount}."),
T("KB-refund-timing", "Pay in 3 refund|Still being charged instalments", "I returned my whole order {ago} but Paylater has still taken my second instalment. Why am I still paying for something I sent back?", 1),
T("KB-large-item-returns", "Return a sofa|Collection for return", "We want to return the {product_big} as it's too big for the room. It's been delivered already. How do we arrange for it to be picked up and is there a charge?"),
T("KB-large-item-returns", "Return assembled wardrobe|Returning flat pack after assembly", "I built the {product_big} and now realise it doesn't fit the alcove. Can I still return it? Will your team take it apart?"),
T("KB-non-returnable", "Return pillows|Can I return a duvet", "I bought 2 {product_pillow} but they're too firm. I've opened the packaging and slept on them one night. Can I return them?"),
T("KB-non-returnable", "Personalised item return|Return refused", "Why was my return of the personalised {product} refused? I only had it 10 days. Your returns policy says 30 days."),
T(None, "Refund less than expected|Partial refund", "I returned 3 items and got refunded {amount} which is less than what I paid. Nobody explained why. Please check order {order} and tell me what was deducted.", 0),
T(None, "Exchange instead of refund|Swap for different size", "Rather than a refund can I just swap the {product} for the bigger size? Don't want to pay delivery again."),
T("KB-refund-timing", "Refund urgent|Need my refund", "This is the third time I'm writing. You confirmed my return arrived at the warehouse two weeks ago and I still have no refund. That's {amount} of my money. I want it back today or I'll be raising a chargeback with my bank.", 1),
],
"payment_failed": [
T("KB-payment-declined", "Payment declined|Card declined at checkout", "My card keeps getting declined when I try to pay for my order. There's money in my account and it works everywhere else. I've tried 3 times."),
T("KB-payment-declined", "Payment error|Can't complete checkout", "Getting '{pay_err}' when I click pay. Tried in Chrome and Safari. Trying to buy a {product_big}, {amount}."),
T("KB-payment-declined", "3D secure not working|Bank verification fails", "Checkout sends me to my bank's verification page and then just spins. Never get the text from the bank. Order won't go through."),
T("KB-payment-declined", "billing address error|address doesnt match", "it says billing address does not match. i've moved recently, is that why?"),
T("KB-payment-declined", "Amex not accepted?|Which cards do you accept", "Do you accept American Express? I tried using mine and it was rejected. Also can I pay by Apple Pay on the website or only on the app?"),
T("KB-charged-failed-order", "Charged but no order|Money taken, no confirmation", "I tried to place an order {when}, the page crashed at payment and I never got a confirmation. But my bank shows {amount} taken. Is there an order or not? Should I try again?", 1),
T("KB-charged-failed-order", "Charged twice|Double payment", "I've been charged twice for order {order}, two payments of {amount} on my statement. Please refund one of them.", 1),
T("KB-charged-failed-order", "Pending payments from failed attempts|Multiple pending charges", "After my card failed 4 times I now have 4 pending payments of {amount} each on my banking app. I can't afford to have that money held. When will it be released?", 1),
T("KB-pay-in-3", "Pay in 3 declined|Why was I refused Pay in 3", "Why was I declined for Pay in 3? I have a good credit score and I've used it with other shops. I want to buy the {product_big}."),
T("KB-pay-in-3", "Pay in 3 question|Instalments", "If I use Pay in 3, when are the payments taken? Is it from the day I order or when it's delivered? Furniture takes 6 weeks."),
T("KB-pay-in-3", "Change card for instalments|Pay in 3 card expired", "The card on my Pay in 3 plan has expired and I have a payment due next week. How do I change it?"),
T(None, "Gift card balance|Pay with gift card", "I have a gift card but there's no box for it at checkout, it only lets me pay with card or PayPal. How do I use it? Number ends in {n4}."),
T(None, "Invoice for business purchase|VAT invoice", "I paid for order {order} on the company card and our accounts team need a VAT invoice with the company name on it. Checkout didn't let me add it. Can you send one?"),
T("KB-payment-declined", "PayPal payment failed|PayPal error", "PayPal keeps saying the payment couldn't be completed and sends me back to the basket. Tried different cards in PayPal as well. I really need to order today because the sale ends tonight.", 1),
],
"promo_code": [
T("KB-promo-code-not-working", "Discount code not working|Promo code invalid", "The code {code} isn't working, it says invalid. I got it in your email this week."),
T("KB-promo-code-not-working", "code not working|promo", "code {code} not working"),
T("KB-promo-code-not-working", "Code not applied to all items|Discount only on some items", "I used {code} but the discount only came off one item in my basket, not the {product_big}. The email said off everything."),
T("KB-promo-code-not-working", "Forgot to use code|Apply discount after ordering", "I placed my order {when} and forgot to add my discount code {code}. Can you apply it and refund the difference? Order {order}."),
T("KB-promo-code-not-working", "Two codes?|Use two discount codes", "Can I use a free delivery code and a percentage code on the same order? It only lets me enter one."),
T("KB-welcome-student-discounts", "Welcome code not received|Newsletter discount", "I signed up for the newsletter to get 10% off but never got the code. Checked spam. Signed up with the same email as my account."),
T("KB-welcome-student-discounts", "Student discount|Student code", "Hello, do you do a student discount? I'm moving into my first flat and need basically everything lol"),
T("KB-welcome-student-discounts", "Referral voucher not received|Refer a friend", "My friend used my referral link and placed an order a month ago, but I haven't received my £15 voucher yet. How long does it take?"),
T("KB-price-drop", "Price dropped after ordering|Price match", "I bought the {product_big} last week for {amount} and now it's £40 cheaper on your site. Can I get the difference back? Order {order}."),
T("KB-price-drop", "Cheaper elsewhere|Do you price match", "The same {product} is £15 cheaper on another website. Will you match it?"),
T("KB-price-drop", "Sale started after I ordered|Missed the sale", "Typical, I ordered on {weekday} and your sale started on {weekday2}. The {product} I bought is now 20% off. Is there anything you can do? Otherwise I'll just return it and buy it again which seems silly."),
T("KB-promo-code-not-working", "Code expired|Expired discount code", "My code {code} says it's expired but the email said valid until the end of the month. Please can you extend it, I want to order the {product} today."),
T(None, "Unsubscribe from emails|Too many promo emails", "Please stop sending me promotional emails every day. I've clicked unsubscribe twice. Also can you remove my phone number from text marketing."),
T(None, "Complaint about advertised discount|Misleading offer", "Your advert on social media said 50% off all bedding but when I go on the site only a few items are reduced. That's misleading advertising. I'd like an explanation."),
],
"account_login": [
T("KB-reset-password", "Password reset email not arriving|Forgot password", "I clicked forgot password three times but no email arrives. Checked junk. My email is {email_alt}."),
T("KB-reset-password", "Reset link expired|Password reset link not working", "The password reset link says it's expired or invalid, I clicked it straight away. Tried twice."),
T("KB-reset-password", "forgot password|cant log in", "forgot my password cant get in"),
T("KB-account-locked", "Account locked|Can't log in", "It says my account is locked. I think I typed the wrong password a few times. How long until I can try again? I need to check my order."),
T("KB-account-locked", "Login loop|Sign in keeps failing", "When I sign in it just takes me back to the sign in page again. No error. Been like this since {when}. On an iPhone using the app."),
T("KB-account-locked", "No account found|Account doesn't exist", "It says there's no account with my email, but I've ordered from you before! Order {order} was delivered last month. Did my account get deleted?"),
T("KB-account-locked", "Signed up with Google|Can't log in with email", "I originally signed up with my Google account and now I want to log in with an email and password but it says the password is wrong. I never set one."),
T("KB-manage-account", "Change email address|Update email", "I've changed jobs and lost access to my old work email, which is what my account is under. How do I change it to {email_alt}?"),
T("KB-manage-account", "Delete my account|GDPR deletion", "Please delete my account and all my data. I don't want to be contacted again."),
T("KB-manage-account", "Two accounts|Merge accounts", "I seem to have two accounts, one with my personal email and one with my old one. Can you merge them so all my orders are in one place?"),
T(None, "Someone else's order in my account|Strange order", "There's an order in my account that I didn't place, delivered to an address in {town} I've never lived at. Has my account been hacked?? I've changed my password now.", 1),
T("KB-account-locked", "Verification code not received|Security code", "Every time I log in it asks for a code sent to my email but it takes forever to arrive and then says expired. Very frustrating."),
T(None, "App crashes|App keeps crashing", "The Parcelpoint app crashes as soon as I open My orders. Android, latest version. Reinstalled already."),
T("KB-reset-password", "Locked out before sale ends|Urgent - can't access account", "I can't get into my account, the reset email isn't coming and I have things in my basket for the sale that ends at midnight. Please help ASAP.", 1),
],
"product_question": [
T("KB-product-dimensions", "Sofa dimensions|Will it fit through my door?", "Hi, would the {product_big} fit through a door that is 72cm wide? I can't see the box size anywhere."),
T("KB-product-dimensions", "Material question|What is it made of", "Is the {product_big} solid wood or veneer? The description doesn't say clearly."),
T("KB-product-dimensions", "Fabric samples|Colour swatches", "Can I get a sample of the sage green fabric before ordering the sofa? Screens always look different."),
T("KB-product-dimensions", "Measurements|dimensions", "what are the dimensions of the {product}"),
T("KB-assembly", "Assembly instructions|Lost instructions", "I've lost the instructions for the {product_big}. Is there a PDF somewhere?"),
T("KB-assembly", "Assembly service|Can you build it for me", "Do you offer assembly? I've ordered the {product_big} already ({order}), can I still add it?"),
T("KB-assembly", "How long to assemble|Tools needed", "How long does the {product_big} take to put together and do I need a drill? Doing it on my own."),
T("KB-care-cleaning", "How to clean|Cleaning advice", "I've spilled red wine on my {product_big}. What should I use to clean it without damaging the fabric?"),
T("KB-care-cleaning", "Dishwasher safe?|Oven safe", "Is the {product_pan} dishwasher safe? And can it go in the oven?"),
T("KB-care-cleaning", "Oak table care|Marks on table", "What oil should I use on the oak table? There are some water rings appearing already and it's only a few months old."),
T("KB-back-in-stock", "Back in stock?|When will it be available", "When will the {product} be back in stock? It's been out for weeks."),
T("KB-back-in-stock", "Reserve item|Can you hold stock for me", "Can you reserve a {product_big} for me when it comes back in? I'll pay now if needed."),
T(None, "Showroom?|Can I see it in person", "Do you have a showroom where I can try out the sofas before buying? I live near {town}."),
T(None, "Bulk order for business|Trade discount", "We're furnishing 12 holiday apartments and want to order in bulk. Do you offer trade pricing or invoicing?"),
],
"cancellation": [
T("KB-cancel-order", "Cancel my order|Cancellation request", "Please cancel my order {order}, I ordered the wrong size by mistake."),
T("KB-cancel-order", "cancel|cancel order", "cancel order {order} pls"),
T("KB-cancel-order", "Cancel button missing|Can't cancel", "I want to cancel part of my order but there's no cancel button, only a return option. It hasn't even been dispatched yet? Order {order}.", 1),
T("KB-cancel-order", "Cancel one item|Remove item from order", "Can I cancel just the {product} from my order and keep the rest? Order {order}."),
T("KB-cancel-order", "Cancelled order refund|Where is my money after cancelling", "I cancelled my order {when} and got the email but the money hasn't come back. It was {amount}. How long does this take?"),
T("KB-cancel-order", "Order dispatched but I cancelled|Too late to cancel?", "I tried to cancel within an hour of ordering but it says it's already being prepared. I really don't need it anymore. What happens if I refuse the delivery?"),
T("KB-cancel-made-to-order", "Cancel made to order sofa|Change of mind on sofa", "We ordered the {product_big} made to order {ago} and our circumstances have changed. We need to cancel. Is that possible?", 1),
T("KB-cancel-made-to-order", "Delay - want to cancel|Delivery pushed back", "My made to order {product_big} has been delayed by 3 weeks now. I'd like to cancel and get a full refund. Order {order}."),
T("KB-cancel-made-to-order", "Postpone delivery|Can you store my sofa", "Instead of cancelling, can you hold my {product_big} for a few weeks? Our renovation has overrun and we won't have a floor."),
T("KB-cancel-order", "Duplicate order|Ordered twice by mistake", "I accidentally placed the same order twice ({order} and {order2}). Please cancel one of them.", 1),
T("KB-cancel-order", "Cancel Pay in 3 order|Cancelling order paid with instalments", "If I cancel my order that I paid with Pay in 3 will the payments stop? Paylater already took the first one."),
T(None, "You cancelled my order|Why was my order cancelled", "I just got an email saying my order {order} has been cancelled, I didn't ask for that. Why? I still want the items.", 1),
T(None, "Cancel subscription|Stop subscription", "How do I cancel the Parcelpoint Plus delivery subscription? It renewed and charged me {amount}."),
T("KB-cancel-order", "Cancel before dispatch please|Urgent cancellation", "Please cancel order {order} ASAP before it goes out. I've found it's been sent to the wrong address and I can't change it online.", 1),
],
"address_change": [
T("KB-change-delivery-address", "Change delivery address|Wrong address on order", "I put the wrong address on my order {order}. It should be {street}, {town} {postcode}. Can you change it?", 1),
T("KB-change-delivery-address", "Change address|wrong address", "need to change the address on {order}, typo in house number"),
T("KB-change-delivery-address", "Moving house|Update address for order", "We're moving house next week and my {product_big} order won't be delivered until after. How do I change the address? The delivery slot isn't booked yet."),
T("KB-change-delivery-address", "Update saved address|Address book", "I've updated my address in my account but my order still shows the old one. Does it update automatically?"),
T("KB-change-delivery-address", "Change address on furniture delivery|New address for delivery", "Our delivery of the {product_big} is booked for {weekday}. Can it go to my parents' address instead? It's about 3 miles away, same town.", 1),
T("KB-change-delivery-address", "Deliver to Northern Ireland|Delivery to Scottish island", "I need to change the delivery address to {town2}. Is that possible, and will there be an extra charge?"),
T("KB-redirect-parcel", "Redirect parcel|Parcel already dispatched", "My parcel has been dispatched with {courier} but I'm not going to be at that address anymore. Can you redirect it to {street}, {town}?", 1),
T("KB-redirect-parcel", "Change address after dispatch|Courier won't change address", "I tried to change the address on the Evri tracking page but it only lets me pick a safe place. The parcel is going to my old flat. Order {order}.", 1),
T("KB-redirect-parcel", "Deliver to neighbour|Change delivery to pickup shop", "Can my parcel go to a DPD pickup shop instead of my house? I'll be away on the day it's due."),
T("KB-redirect-parcel", "Old address - parcel on its way|Sent to old address", "I forgot to update my address and my order has been sent to where I used to live. The people there don't know me. What happens now? It's a {product} for my son's birthday on {weekday}.", 1),
T(None, "Add flat number|Missing flat number", "Could you add 'Flat 3' to the address on my order? I missed it off and the courier never finds us."),
T(None, "Delivery instructions|Leave with concierge", "Can you add a note for the driver to leave parcels with the building concierge? The buzzer doesn't work."),
T("KB-change-delivery-address", "URGENT address change|Wrong postcode", "I've just realised I entered the wrong postcode, {postcode}, on order {order} placed an hour ago. Please fix it before it ships!!", 1),
],
}

# ---------------------------------------------------------------------------
# Stackbeam: cloud hosting / developer platform (original text).
# ---------------------------------------------------------------------------

SB_ARTICLES = [
("KB-build-failures", "deploy_failed", "Troubleshooting failed builds", ["deploys", "builds", "troubleshooting"], """
When a deploy fails during the build stage, the Deploys tab marks it "Build failed" and the build log shows the last lines before the failure. Run `beam logs --build <deploy-id>` to see the full log. The most common causes:

- Out of memory: the build was killed with "build exceeded memory limit". Build memory is 2 GB on Hobby, 4 GB on Pro and 8 GB on Team. Reduce parallel jobs, set NODE_OPTIONS=--max-old-space-size, or upgrade the build size under Settings > Build.
- Timeout: builds are stopped after 15 minutes on Hobby and 45 minutes on paid plans.
- Dependency errors: lockfile out of sync or a private package that needs a registry token.
- Wrong runtime version: pin it in beam.toml with `runtime = "node@20"` or in .python-version.

Clearing the build cache from the deploy menu fixes many errors that appear after a dependency upgrade.
"""),
("KB-health-check-failures", "deploy_failed", "Deploy failed: health check timed out", ["deploys", "health-checks", "ports"], """
After a successful build, we start your new instances and wait for them to pass a health check before sending them traffic. If the check doesn't pass within 60 seconds, the deploy is marked "Health check failed" and your previous version keeps serving traffic.

Check the following:

- Your app must listen on the port in the PORT environment variable, and on 0.0.0.0, not localhost or 127.0.0.1.
- The health check path (default /) must return a 2xx or 3xx status without requiring login. Set a dedicated path like /healthz in beam.toml under [deploy] healthcheck_path.
- Slow startups, such as running migrations at boot, may need a longer grace period; raise healthcheck_timeout up to 300 seconds.
- An instance that crashes at start, for example because of a missing environment variable, exits before the check. The runtime logs show the error.
"""),
("KB-env-vars", "deploy_failed", "Environment variables and secrets in builds and at runtime", ["environment-variables", "secrets", "deploys"], """
Set environment variables in the dashboard under Settings > Environment, or with `beam env set KEY=value`. Every change creates a new release, so a redeploy picks up the new values automatically.

By default, variables are available at runtime only. If your build needs one, for example an API URL baked into a frontend bundle or a token for a private package registry, tick "Available during build". Variables marked Secret are encrypted, hidden in the dashboard after saving, and never printed in build logs.

Environment groups let you share variables between services; a service-level variable overrides a group value with the same name.

If a deploy fails with a missing variable, check the spelling and the environment: preview deployments use the Preview set, not Production, unless you copy variables across.
"""),
("KB-rollback", "deploy_failed", "Rolling back to a previous deploy", ["deploys", "rollback", "releases"], """
Every successful deploy is kept as a release you can return to. To roll back:

1. Open your service and go to the Deploys tab.
2. Find the last release that worked and open its menu.
3. Choose "Roll back to this deploy" and confirm.

The rollback reuses the release's existing build, so it's live in under a minute, with no rebuild. Environment variables are restored to the values they had in that release. Database migrations are not reversed; if the newer release changed your schema, check that the older code still works with it.

While a rollback is active, automatic deploys from your Git branch are paused so a new push doesn't immediately overwrite it. Re-enable them from the banner at the top of the Deploys tab. From the CLI, use `beam rollback <service> --to <deploy-id>`.
"""),
("KB-status-incidents", "outage", "Checking platform status and incidents", ["status", "incidents", "outage"], """
Our status page at status.stackbeam.example shows the current health of every component: builds, deploys, routing, managed databases, the dashboard and the API, for each region. During an incident we post updates there at least every 30 minutes until it's resolved.

Subscribe by email, SMS, Slack or webhook from the status page to hear about incidents in the regions and components you use. The dashboard also shows a banner when an incident affects your services.

If your service is down and the status page shows no incident, the cause is more likely in your service itself; see our article on 502 and 503 errors. If you still think the platform is at fault, open an urgent ticket with the service name, region, time and example request IDs from the x-beam-request-id response header. After major incidents we publish a post-incident report within 5 business days.
"""),
("KB-502-503-errors", "outage", "Why is my service returning 502 or 503 errors?", ["errors", "502", "503"], """
A 502 Bad Gateway means our router reached your instance but got no valid response. A 503 Service Unavailable means no healthy instance was available to take the request. Both usually come from the service rather than the platform:

- The app crashed or was restarted. Check the Events tab for "Instance exited" and the runtime logs for a stack trace.
- An instance was killed for using too much memory, shown as exit code 137 or "OOM killed". Increase the instance size or fix the leak.
- All instances were busy and requests queued past the 30-second router timeout. Add instances or enable autoscaling.
- The app closed keep-alive connections early. Set its keep-alive timeout above 65 seconds.

Check status.stackbeam.example for regional incidents. Requests that never reached your app show an x-beam-error header explaining why.
"""),
("KB-sla-credits", "outage", "Uptime SLA and service credits", ["sla", "credits", "uptime"], """
Team and Enterprise plans include an uptime commitment for the routing layer and managed databases: 99.95% per month on Team and 99.99% on Enterprise. Hobby and Pro plans are covered by best-effort availability without credits.

If monthly uptime falls below the commitment, you're entitled to a credit on the next invoice: 10% of the affected service's monthly charge below the commitment, 25% below 99.0% and 50% below 95.0%.

To claim, open a ticket within 30 days of the end of the affected month with the service names, the time of the incident and, if possible, request IDs or monitoring data. Downtime caused by your own code, deploys, exceeded plan limits, or scheduled maintenance announced 72 hours ahead is excluded. Credits are the only remedy under the SLA and aren't paid out as cash.
"""),
("KB-invoices-vat", "billing", "Finding invoices and adding VAT or company details", ["billing", "invoices", "vat"], """
Invoices are issued on the first day of each month for the previous month's usage and emailed to the workspace's billing contacts. You can download all invoices as PDF under Billing > Invoices, where owners and billing admins can also add extra recipients such as an accounts payable address.

To show your company name, address and tax ID on invoices, fill in Billing > Company details. Customers in the EU and UK with a valid VAT number are charged under the reverse-charge mechanism; without a number, local VAT is added. Details changed after an invoice was issued don't update past invoices automatically; ask us and we'll reissue invoices from the last 12 months.

Purchase order numbers can be added in the same place and appear on every future invoice. Enterprise customers can pay by bank transfer with 30-day terms.
"""),
("KB-usage-charges", "billing", "Understanding usage charges on your bill", ["billing", "usage", "bandwidth"], """
Your invoice has two parts: the fixed price of your plan and services, and usage above the included amounts. Each plan includes a monthly allowance of bandwidth (100 GB on Pro, 1 TB on Team), build minutes and database storage. Above the allowance we charge 0.10 USD per GB of bandwidth, 0.005 USD per build minute and 0.25 USD per GB-month of storage.

Instance charges are prorated by the second, so a service scaled up for a few hours costs only for those hours. Preview environments are charged like other services while they run.

Usage so far this month, with a forecast, is under Billing > Usage, broken down by service. Set a spending alert or a hard limit in Billing > Limits to be warned or to stop non-essential usage when a threshold is reached. Unexpected bandwidth spikes are often caused by bots or hotlinked files.
"""),
("KB-plan-changes", "billing", "Upgrading, downgrading or cancelling your plan", ["billing", "plans", "proration"], """
Change your workspace plan under Billing > Plan. Upgrades take effect immediately and are prorated: you pay the difference for the rest of the current billing month on your next invoice.

Downgrades take effect at the start of the next billing month. Before downgrading, make sure you don't use features the lower plan lacks, such as SSO, autoscaling or more seats than allowed; the dashboard lists anything that blocks the change.

To stop paying entirely, delete paid services and databases and switch to Hobby. Charges stop from the moment a service is deleted, but the usage up to then is billed on the next invoice. We don't refund partial months for plan fees, except where required by law or if you were charged in error.

Seats are billed per member; removing a member stops billing for that seat from the next day.
"""),
("KB-failed-payment", "billing", "What happens if a payment fails?", ["billing", "payments", "suspension"], """
If we can't charge your card when an invoice is issued, we email the billing contacts and retry the payment after 3, 5 and 7 days. During this time your services keep running.

If the invoice is still unpaid after 7 days, the workspace is restricted: new deploys are blocked, and on the 14th day running services are paused. Databases are kept for 30 days more before deletion, and you can export backups during that time.

To fix a failed payment, update the card under Billing > Payment methods and click "Pay now" on the open invoice. Services resume within a few minutes of a successful payment. Common causes of failed payments are expired cards, bank fraud checks on recurring international charges, and 3D Secure requests that need approval; you can approve them from the link in our email.
"""),
("KB-connect-domain", "dns_domains", "Connecting a custom domain to your service", ["domains", "dns", "cname"], """
1. Open your service, go to Settings > Domains and click Add domain.
2. Enter the domain, for example www.example.com or example.com.
3. Create the DNS records shown at your DNS provider.

For a subdomain such as www or app, create a CNAME record pointing to your service's address, like my-app.stackbeam.app. For an apex domain such as example.com, use an ALIAS or ANAME record if your provider supports it, or an A record pointing to 203.0.113.10.

Remove any old A, AAAA or CNAME records for the same name, as conflicting records cause intermittent failures. Once the records resolve, the domain status changes to Active and we issue a TLS certificate automatically. Wildcard domains like *.example.com are available on Pro and above and need DNS verification.
"""),
("KB-domain-verification", "dns_domains", "Verifying domain ownership with a TXT record", ["domains", "verification", "txt"], """
We ask you to verify a domain when it's already used by another Stackbeam workspace, for wildcard domains, and for apex domains behind a proxy.

Create a TXT record named _stackbeam-challenge on the domain (for example _stackbeam-challenge.example.com) with the value shown in Settings > Domains. Some DNS providers add the domain name automatically, so enter only _stackbeam-challenge as the name.

Click Verify once the record is created. We check every few minutes for 72 hours; if verification still fails, the value may have extra quotes or spaces, or the record may be on the wrong zone. Use `dig TXT _stackbeam-challenge.example.com` to check what's published.

If the domain is attached to a workspace you no longer control, verifying it in your workspace removes it from the old one. You can delete the TXT record after verification.
"""),
("KB-dns-propagation", "dns_domains", "My domain isn't working yet: DNS propagation", ["dns", "propagation", "ttl"], """
After you create or change DNS records, resolvers around the world keep serving the old answer until its TTL expires. This can take from a few minutes to 48 hours, depending on the TTL of the previous record and your provider. Changing nameservers takes longest.

To check progress:

- Run `dig +short www.example.com` against several public resolvers, or use an online propagation checker.
- Compare the answer with the target shown in Settings > Domains.
- Flush your local DNS cache or test from a mobile network, because your own machine may cache old results.

Lower the TTL to 300 seconds a day before planned changes to make future switches fast. If the domain still shows "Misconfigured" after 48 hours, the dashboard lists what it currently resolves to; common mistakes are records on the wrong zone, a leftover AAAA record, or a proxy in front that hides the record.
"""),
("KB-certificate-pending", "ssl_certificates", "Why is my TLS certificate still pending?", ["ssl", "certificates", "lets-encrypt"], """
We issue free TLS certificates from Let's Encrypt for every custom domain once its DNS points to Stackbeam. Issuance usually takes 5 to 15 minutes. If the certificate stays "Pending" for more than an hour, check these causes:

- DNS doesn't point to us yet, or still has an old AAAA record. Certificates can't be issued until the domain resolves correctly.
- A CAA record on the domain doesn't allow letsencrypt.org. Add a CAA record `0 issue "letsencrypt.org"`, or remove restrictive CAA records.
- A proxy such as Cloudflare is enabled in front of the domain. Set the record to DNS only until the certificate is issued, or use our TXT verification.
- Let's Encrypt's rate limits were hit after many attempts on the same domain; issuance retries automatically after one hour.

While pending, browsers show a certificate warning for the domain, and the stackbeam.app address keeps working.
"""),
("KB-custom-certificates", "ssl_certificates", "Uploading your own certificate", ["ssl", "certificates", "custom"], """
On Team and Enterprise plans you can use a certificate from your own certificate authority instead of our automatic one, for example an extended validation or organisation-validated certificate.

In Settings > Domains, open the domain and choose Custom certificate. Upload, in PEM format:

- The certificate, followed by the full intermediate chain in order.
- The private key, unencrypted. RSA 2048 or larger and ECDSA P-256 keys are supported.

We validate that the certificate matches the key and the domain before activating it, and the switch happens without downtime.

Custom certificates are not renewed by us. We email the workspace owners 30, 14 and 3 days before expiry; upload a renewed certificate before then. If a custom certificate expires, you can switch back to automatic certificates at any time from the same screen. Missing intermediates are the usual cause of errors in some browsers and on Android.
"""),
("KB-certificate-renewal", "ssl_certificates", "My certificate expired or wasn't renewed", ["ssl", "renewal", "expired"], """
Automatic certificates are valid for 90 days and renewed 30 days before expiry. Renewal needs the same conditions as the first issuance: the domain must still point to Stackbeam and CAA records must allow Let's Encrypt. If renewal fails, we email workspace owners and show a warning in Settings > Domains.

If visitors see an expired certificate or NET::ERR_CERT_DATE_INVALID:

1. Open the domain in Settings > Domains and read the renewal error.
2. Fix the DNS or CAA problem it describes.
3. Click Renew certificate. A new certificate is usually active within 15 minutes.

If you recently moved the domain's DNS to a new provider, check that the records were copied exactly. For custom certificates, renewal is your responsibility; upload the new one. Browsers may cache a certificate error briefly, so test with a private window or `curl -v`.
"""),
("KB-api-rate-limits", "api_rate_limits", "API rate limits and 429 responses", ["api", "rate-limits", "429"], """
The Stackbeam REST API limits the number of requests per API token to keep the platform responsive:

- Hobby: 120 requests per minute.
- Pro: 600 requests per minute.
- Team and Enterprise: 1,200 requests per minute.

Deploy hooks are limited separately to 30 triggers per hour per service, and log streaming to 5 concurrent streams per workspace.

Every response includes X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset headers. When you exceed the limit, the API returns 429 Too Many Requests with a Retry-After header giving the seconds to wait. Clients should back off exponentially and retry after that time.

To stay within limits, cache results, use list endpoints with pagination instead of polling each resource, and subscribe to webhooks for deploy and instance events instead of polling. Limits apply per token, so a shared token across many CI jobs reaches them quickly.
"""),
("KB-rate-limit-increase", "api_rate_limits", "Requesting a higher API rate limit", ["api", "rate-limits", "limits"], """
If your integration needs more than your plan's API limit, Team and Enterprise customers can request an increase. Before asking, please check that:

- You use webhooks instead of polling for deploy status and events.
- Requests are spread over time rather than sent in bursts, for example from many CI jobs starting at once.
- You use separate tokens for separate systems, since limits are counted per token.

To request an increase, open a ticket from Support in the dashboard with the token name (never the token itself), your current request volume, the endpoints you call, and the limit you need. Most requests are reviewed within 2 business days. Temporary increases for migrations or launches can be granted for up to 14 days.

Limits on the number of services, instances and custom domains per workspace are handled in the same way.
"""),
("KB-db-connection-limits", "database_connections", "Too many connections: limits and connection pooling", ["database", "postgres", "connections", "pooling"], """
Each managed Postgres database accepts a maximum number of connections depending on its size: 25 on Starter, 100 on Pro and 400 on Team instances. A few are reserved for maintenance, so when the limit is reached new connections fail with "remaining connection slots are reserved" or "too many connections for role".

Common causes are scaling up app instances, each opening its own pool; serverless functions opening a connection per request; and connections leaked by code that doesn't release them.

Use the built-in connection pooler: connect to port 6543 instead of 5432, using the pooled connection string from the database's Connect tab. The pooler runs in transaction mode and lets thousands of clients share a small number of server connections. Prepared statements need driver settings that support transaction pooling.

See current connections in the database Metrics tab, and set your app's pool size so that instances times pool size stays below the limit.
"""),
("KB-db-connection-strings", "database_connections", "Connection strings and SSL for managed databases", ["database", "connection-string", "ssl"], """
Each database has two connection strings in its Connect tab: an internal one, for services in the same region and workspace, and an external one for connections from elsewhere. Internal connections are faster and don't count against bandwidth.

External connections require TLS. Use sslmode=require, or verify-full with the CA certificate you can download from the Connect tab. Clients that don't use TLS fail with "no pg_hba.conf entry" or "SSL connection is required".

If you reset the database password, the connection strings change immediately and services using the DATABASE_URL variable are redeployed automatically. Services that hardcode the password, and external tools such as BI dashboards, must be updated by hand.

Connection timeouts from outside usually mean your IP isn't allowed; see our article on external access.
"""),
("KB-db-external-access", "database_connections", "Connecting to a database from outside Stackbeam", ["database", "networking", "allowlist"], """
By default, managed databases only accept connections from services in the same workspace. To connect from your laptop, a CI runner or another cloud, add the source IP addresses under the database's Networking > Trusted sources. Entries accept single addresses or CIDR ranges such as 198.51.100.0/24. Changes apply within a minute.

Connection attempts from addresses that aren't trusted time out rather than being refused, which often looks like a network problem.

For CI services with changing IPs, use their published IP ranges, or run migrations from a Stackbeam job inside the workspace instead. Avoid 0.0.0.0/0 except for short tests.

Team plans can connect databases to your own cloud network through private networking, so traffic never crosses the public internet. You can also open a temporary tunnel with `beam db connect <database>`, which works without changing trusted sources.
"""),
("KB-saml-sso", "sso_login", "Setting up SAML single sign-on", ["sso", "saml", "security"], """
Team and Enterprise workspaces can require members to sign in through your identity provider, such as Okta, Microsoft Entra ID or Google Workspace.

1. In Workspace settings > Authentication, click Configure SSO and copy the ACS URL and entity ID.
2. Create a SAML application in your identity provider with those values, and send the email address as the NameID.
3. Upload the provider's metadata XML or paste its SSO URL and signing certificate.
4. Verify your email domain with a TXT record.
5. Test the connection with your own account, then turn on "Require SSO".

Once SSO is required, members sign in from the Stackbeam login page with their work email. Owners can keep password login as a fallback for emergencies. SCIM provisioning, available on Enterprise, creates and removes members automatically when you assign them in your provider.
"""),
("KB-sso-errors", "sso_login", "Fixing SSO sign-in errors", ["sso", "saml", "errors"], """
If sign-in through your identity provider fails, the error page shows a code:

- "User not assigned": the user isn't assigned to the Stackbeam app in your identity provider.
- "Signature validation failed": the provider's signing certificate changed. Upload the new certificate or metadata in Workspace settings > Authentication.
- "NameID mismatch": the email sent by the provider differs from the member's Stackbeam email. Send the primary email as NameID.
- "Domain not verified": the user's email domain isn't verified for the workspace.
- "Clock skew": the provider's assertion is outside the allowed time window; check the provider's server time.

Members invited before SSO was enabled sign in with SSO the next time they log in; their projects are kept. If nobody can sign in, a workspace owner can use the owner fallback login at stackbeam.example/login/owner to temporarily turn SSO off.
"""),
("KB-2fa-recovery", "sso_login", "Lost access to two-factor authentication", ["2fa", "account-recovery", "login"], """
If you've lost the phone with your authenticator app, sign in with one of the recovery codes you saved when you enabled two-factor authentication. Each code works once. After signing in, set up 2FA again under Account > Security and save the new codes somewhere safe.

If you don't have your recovery codes:

- If your workspace uses SSO, your identity provider controls sign-in and you won't be asked for Stackbeam 2FA.
- Another owner of your workspace can't remove your 2FA, but can remove and re-invite you, which creates a fresh login.
- Otherwise, request account recovery from the login page. We verify your identity by email and, for accounts with paid workspaces, through a billing detail. Recovery takes 2 to 3 business days for your security, and we can't speed it up.

Security keys and passkeys are supported as a second factor and are the most robust option.
"""),
("KB-diagnose-latency", "performance", "Investigating slow response times", ["performance", "latency", "metrics"], """
Start with the Metrics tab of your service, which shows request rate, p50 and p95 response time, CPU and memory for each instance.

- If response times rise with CPU near 100%, the instances are saturated. Scale up the instance size or add instances.
- If memory climbs steadily and drops at restarts, there's a leak; instances may swap or be killed.
- If response times are high while CPU is low, the app is waiting on something: usually the database, an external API or a slow query. Enable slow query logging in your database's settings.
- If latency is high only for some users, check the region. A service in fra1 serving users in Singapore adds 150 ms or more per round trip; the database should be in the same region as the service.

The x-beam-response-time header separates our routing time from your app's time. Routing normally adds less than 5 ms.
"""),
("KB-cold-starts", "performance", "Why is the first request slow? Sleeping services and cold starts", ["performance", "cold-starts", "hobby"], """
Services on the Hobby plan sleep after 15 minutes without traffic to save resources. The next request wakes the service, which takes 10 to 30 seconds depending on your app's startup time, and the request waits during that time. Later requests are fast until the service sleeps again.

Paid plans don't sleep. If you see occasional slow requests on a paid plan, they're usually caused by:

- Deploys or restarts, when new instances start and fill their caches.
- Autoscaling adding instances that start cold.
- Lazy initialisation in your app, such as loading large models or opening database pools on the first request.

Keep startup fast, warm caches at boot rather than on the first request, and configure a health check path so we only send traffic once the app is ready. Pinging a Hobby service to keep it awake is against our fair use policy.
"""),
("KB-autoscaling", "performance", "Configuring autoscaling", ["performance", "autoscaling", "scaling"], """
Pro and higher plans can scale the number of instances of a web service or worker automatically. Under Settings > Scaling, set:

- Minimum and maximum instances, for example 2 and 10.
- A target CPU utilisation, 70% by default, and optionally a memory target.

Every 30 seconds we compare average usage with the target and add instances when it's above it for 2 minutes, or remove instances after 10 minutes below it. New instances take as long as your app's startup to serve traffic, so keep a minimum that handles sudden peaks.

Autoscaling doesn't help if the bottleneck is the database or an external service; more instances may even exhaust database connections. You're billed for each instance by the second. Scaling events appear in the Events tab, and you can get notifications when the maximum is reached.
"""),
("KB-feature-requests", "feature_request", "Suggesting a feature and following the roadmap", ["roadmap", "feedback", "feature-requests"], """
We plan our work on a public roadmap at roadmap.stackbeam.example, where you can see what's planned, in progress and recently shipped.

To suggest a feature, search the roadmap first; if a similar idea exists, vote for it and add a comment describing your use case. Comments about the problem you're trying to solve are more useful to our product team than a specific solution. If nothing matches, click "Suggest a feature". Requests from support tickets are added to the roadmap by our team, so you can follow them there.

Votes, the number of workspaces affected and plan tier all inform prioritisation, but we can't commit to dates for requests that aren't yet in progress. You'll get an email when a feature you voted for changes status. Beta features are announced in the changelog and can be enabled under Workspace settings > Previews.
"""),
("KB-preview-features", "feature_request", "Trying beta features before general release", ["beta", "previews", "early-access"], """
New features are released first as previews, announced in the changelog at stackbeam.example/changelog. Workspace owners and admins can switch them on under Workspace settings > Previews, where each preview has a short description and a link to its documentation.

Some previews are invite-only while we test them with a small group. For those, click "Request access" on the preview's card; we review requests weekly and email you when your workspace is added. Enterprise workspaces can also ask their account manager.

Previews are not covered by the uptime SLA, may change without notice and can have usage limits. Don't rely on them for production traffic until they reach general availability. You can switch a preview off at any time; data created with it is kept unless the preview's page says otherwise. Send feedback with the Feedback button on the preview's card.
"""),
]

SB_TEMPLATES = {
"deploy_failed": [
T("KB-build-failures", "Deploy failing|Build failed", "Our deploys for {app} started failing {when}. Build log ends with:\n{build_err}\nNothing changed in the build config on our side.", 1),
T("KB-build-failures", "Build out of memory|Build killed", "Build for {app} keeps getting killed with 'build exceeded memory limit'. It's a Next.js app that built fine last week. We're on the {plan} plan."),
T("KB-build-failures", "build failing|deploy broken", "build fails. {build_err}"),
T("KB-build-failures", "Build timeout|Build taking forever", "Our build for {app} hits the timeout at about 15 minutes and gets cancelled. Locally it takes 6 minutes. Is there a way to get more build time?"),
T("KB-build-failures", "Wrong Node version in build|Python version", "The build is using Node 18 but we need Node 20 for a dependency. How do I tell the builder which version to use? Couldn't find it in the docs."),
T("KB-health-check-failures", "Health check failed|Deploy stuck on health check", "Build succeeds but the deploy fails with 'health check failed' after a minute. App is a FastAPI service on uvicorn, runs fine locally on port 8000. Service {app} in {region}.", 1),
T("KB-health-check-failures", "Deploy fails after build|Health check timeout", "Hi team - every deploy of {app} times out during health checks since we added a migration step to the start command. The old version keeps running which is fine but we can't ship anything. Is there a way to make the timeout longer? We need to get a fix out today.", 1),
T("KB-health-check-failures", "health check 401|Health check path requires auth", "our health check fails because / returns 401, the whole app is behind login. can we point the health check somewhere else?"),
T("KB-env-vars", "Env var missing in build|Environment variable undefined", "NEXT_PUBLIC_API_URL is set in the dashboard but it's undefined in the built frontend. At runtime it's there. What are we missing?"),
T("KB-env-vars", "Private npm package fails in build|Registry token", "The build can't install our private package from the GitHub registry, 401 unauthorized. The NPM_TOKEN is set as a secret on the service. {build_err}"),
T("KB-env-vars", "Preview deploys failing|Preview environment variables", "Production deploys work but every preview deploy for pull requests fails with 'DATABASE_URL is not set'. Do previews not get the same variables?"),
T("KB-rollback", "How to roll back|Rollback deploy", "We pushed a bad release to {app} and need to roll back to yesterday's version. What's the fastest way? Can it be done from the CLI?", 1),
T("KB-rollback", "Rollback keeps getting overwritten|Auto deploy after rollback", "We rolled back {app} but I'm worried the next merge to main will deploy again automatically. How does that work?"),
T(None, "Deploy from GitLab|Support for self-hosted Git", "We're moving our repos to a self-hosted GitLab instance. Can Stackbeam deploy from it or do we have to use the CLI?"),
T(None, "Deploy stuck in queue|Deploys queued", "Deploys for {app} have been sitting in 'Queued' for 20 minutes now, nothing in the logs. Other services in the workspace deploy fine.", 1),
],
"outage": [
T("KB-status-incidents", "Is there an outage?|Platform down?", "Is something going on in {region}? All our services are unreachable and the dashboard is very slow. Status page shows nothing.", 1),
T("KB-status-incidents", "site down|DOWN", "{app} is down!!! {region}", 1),
T("KB-status-incidents", "Production down|Urgent: production outage", "Production is down. {domain} returns errors for every request since {time_utc} UTC. We haven't deployed today. Please check whether this is on your side.", 1),
T("KB-status-incidents", "Incident notifications|Status updates", "During the incident {when} we didn't get any notifications and only found out from our customers. How do we get alerted about incidents in our region?"),
T("KB-status-incidents", "Post-incident report|RCA request", "Can you share a root cause analysis for the outage {when}? Our management is asking and we need something to pass on to our own customers."),
T("KB-502-503-errors", "502 Bad Gateway|502 errors", "Getting 502 Bad Gateway on {domain} intermittently, maybe 1 in 10 requests. Logs don't show anything obvious. {app} in {region}.", 1),
T("KB-502-503-errors", "503 errors after deploy|Service unavailable", "Since the deploy this morning, {app} returns 503 Service Unavailable on and off. Events tab shows instances restarting. Is it the platform or us?", 1),
T("KB-502-503-errors", "Instances keep restarting|Exit code 137", "Our worker instances keep restarting with exit code 137 every few hours and requests fail with 502 while they come back up. Customers are complaining."),
T("KB-502-503-errors", "Timeout errors|Requests timing out at 30s", "Long requests (report exports) fail after exactly 30 seconds with a 503. Is there a timeout we can raise?"),
T("KB-sla-credits", "SLA credit claim|Downtime compensation", "We had about 3 hours of downtime on our production database {when}. We're on the Team plan. How do we claim the service credits from the SLA?"),
T("KB-sla-credits", "Uptime guarantee|What is your SLA", "What uptime do you guarantee on the {plan} plan? Our enterprise customer is asking for 99.9% in their contract."),
T(None, "Maintenance window|Scheduled maintenance", "We got an email about scheduled database maintenance on {weekday}. Can we move it to a different time? That's our busiest day."),
T("KB-status-incidents", "Everything down - customers can't check out|P1 outage", "P1: our checkout at {domain} has been failing for 15 minutes, customers can't check out. Dashboard shows services as healthy. Need someone on this right now.", 1),
T(None, "Data loss?|Lost data after outage", "After the outage {when} some records written in the last hour before it seem to be missing from our database. Was there any data loss on your side? This is serious for us.", 1),
],
"billing": [
T("KB-invoices-vat", "Invoice request|Need invoice", "Where can I download our invoices? Our finance team needs the last 3 months as PDFs."),
T("KB-invoices-vat", "VAT number on invoice|Add company details", "Our invoices don't show our company name and VAT number, so accounting can't process them. Can you add them and reissue the invoices for this year? VAT: GB{vat}."),
T("KB-invoices-vat", "Invoice to accounts payable|Billing email", "Please send invoices to accounts@{company}.example.com as well as me. Also we need our PO number on them."),
T("KB-usage-charges", "Unexpected charges|Bill much higher than usual", "Our invoice {invoice} is {amount_usd}, normally it's around a third of that. The line items say bandwidth. We didn't launch anything new. What happened?", 1),
T("KB-usage-charges", "bandwidth overage|usage", "why am i paying for bandwidth overage"),
T("KB-usage-charges", "Set spending limit|Budget alerts", "Is there a way to cap our spend per month? We're a small team and a surprise bill would really hurt."),
T("KB-plan-changes", "Downgrade plan|Switch to Hobby", "We want to downgrade from {plan} to Hobby. It says something is blocking the change. What do we need to remove?"),
T("KB-plan-changes", "Charged for upgrade|Proration question", "I upgraded to Team halfway through the month and the invoice has a strange partial amount. Can you explain how that's calculated?"),
T("KB-plan-changes", "Refund for unused month|Cancel and refund", "We shut down our project on the 3rd and deleted everything. Can we get a refund for the rest of the month's plan fee?"),
T("KB-failed-payment", "Payment failed|Card declined", "Got an email that our payment failed. The card is fine, our bank says nothing was attempted. Will our services be shut down?", 1),
T("KB-failed-payment", "Services paused for non-payment|Account suspended", "Our services were paused today because of an unpaid invoice. The card on file expired. I've added a new one, how quickly can we get back up? Customers are affected.", 1),
T("KB-failed-payment", "Update card|Change payment method", "How do I change the credit card used for billing? The current one belongs to someone who left the company."),
T(None, "Pay by bank transfer|Invoice payment terms", "We're a public institution and can only pay by bank transfer against an invoice with 30-day terms. Is that possible on the {plan} plan?"),
T(None, "Nonprofit discount|Discount for open source", "Do you offer discounts for nonprofits or open-source projects? We're a registered charity running a small volunteer app."),
T("KB-usage-charges", "Charged for preview environments|Preview billing", "We got charged for a bunch of preview environments that were left running. I thought previews were free? Invoice {invoice}."),
],
"dns_domains": [
T("KB-connect-domain", "Custom domain setup|How to add domain", "How do I point {domain} to my Stackbeam service? I manage DNS at my registrar."),
T("KB-connect-domain", "Apex domain not working|Root domain", "www.{apex} works but {apex} without www doesn't load. My DNS provider doesn't support ALIAS records. What should I set?"),
T("KB-connect-domain", "Domain works intermittently|Sometimes resolves to old server", "{domain} sometimes goes to our new Stackbeam app and sometimes to our old server. I added the CNAME but the old A record is still there as well, is that the problem?"),
T("KB-connect-domain", "Wildcard domain|Subdomain per customer", "We give each customer their own subdomain (customer.{apex}). Can we set up a wildcard domain on Stackbeam? We're on {plan}."),
T("KB-domain-verification", "Domain verification failing|TXT record not found", "I added the TXT record for verification two days ago but the dashboard still says 'verification pending'. Record name _stackbeam-challenge. What's wrong?"),
T("KB-domain-verification", "Domain already in use|Domain claimed by another workspace", "When I try to add {domain} it says it's already used by another workspace. That's probably an old account of a contractor we no longer work with. How do we get it back?", 1),
T("KB-dns-propagation", "DNS not propagated|Domain still misconfigured", "I changed the CNAME for {domain} an hour ago and it still shows Misconfigured. How long does this take?"),
T("KB-dns-propagation", "DNS not updating|Nameserver change", "We moved our nameservers to a new DNS provider {when} and half the team sees the new site and half sees the old one. Is there something on your side?"),
T("KB-dns-propagation", "dns|domain not working", "domain not working after changing dns. says misconfigured"),
T("KB-dns-propagation", "Migration cutover DNS|Planning domain switch", "We're migrating our main site to Stackbeam on {weekday} night. What's the best way to switch DNS with minimal downtime?"),
T(None, "Buy a domain|Domain registration", "Can I buy a domain through Stackbeam or do I need to go to a registrar?"),
T(None, "Email stopped working after DNS change|MX records", "After I set up the domain for Stackbeam our company email stopped receiving messages. Did your setup remove our MX records?", 1),
T("KB-connect-domain", "Domain down after move|Custom domain DNS_PROBE_FINISHED_NXDOMAIN", "Our main domain {domain} shows DNS_PROBE_FINISHED_NXDOMAIN since we connected it. The site is completely down for customers. Please help urgently.", 1),
],
"ssl_certificates": [
T("KB-certificate-pending", "SSL certificate pending|Certificate not issued", "The certificate for {domain} has been 'Pending' for 3 hours. DNS is set up and the domain shows active. Browser says not secure."),
T("KB-certificate-pending", "Cloudflare and SSL|Certificate with proxy", "We use Cloudflare in front of {domain}. The certificate on Stackbeam never gets issued. Do we need to turn off the proxy?"),
T("KB-certificate-pending", "CAA record|SSL fails CAA", "Certificate issuance for {domain} fails with an error mentioning CAA. Our security team set up CAA records for our certificate provider. What do we need to add?"),
T("KB-certificate-pending", "https not working|ssl", "https not working on new domain, {ssl_err}"),
T("KB-custom-certificates", "Upload own certificate|EV certificate", "Our compliance team requires us to use our own OV certificate from our CA. How do we upload it? We're on {plan}."),
T("KB-custom-certificates", "Certificate chain incomplete|Android SSL error", "After uploading our own certificate, the site works on desktop but Android users get a certificate error. Desktop Chrome is fine."),
T("KB-custom-certificates", "Custom cert key format|Private key rejected", "The dashboard rejects our private key when we upload the certificate. It's a PFX file from our CA. Which format do you need?"),
T("KB-certificate-renewal", "Certificate expired|SSL expired", "Our certificate on {domain} expired today and customers see {ssl_err}. I thought renewal was automatic??", 1),
T("KB-certificate-renewal", "Renewal warning email|Certificate renewal failed", "We got an email that certificate renewal failed for {domain}. We did move DNS providers last month. What do we need to check?"),
T("KB-certificate-renewal", "SSL error after DNS move|Certificate invalid", "Since we switched DNS providers {when} the certificate hasn't renewed and expires in 4 days. Can you force a renewal?", 1),
T(None, "Mixed content warnings|Padlock missing", "Browser shows the padlock with a warning on some pages of {domain}, says some content isn't secure. Certificate looks valid though."),
T(None, "Client certificates|mTLS support", "Does Stackbeam support mutual TLS with client certificates? We need it for a banking partner integration."),
T("KB-certificate-renewal", "SSL down on production domain|Urgent certificate issue", "URGENT: {domain} is showing a certificate error to all visitors, {ssl_err}. This is our production shop. We haven't touched anything.", 1),
],
"api_rate_limits": [
T("KB-api-rate-limits", "429 Too Many Requests|Rate limited", "We're getting 429 Too Many Requests from the Stackbeam API in our deployment scripts. What are the limits?"),
T("KB-api-rate-limits", "API rate limit headers|Retry-After", "What's the right way to handle the API's 429s? Our Terraform provider just fails instead of waiting."),
T("KB-api-rate-limits", "CI jobs rate limited|Deploy hooks limit", "Our CI runs about 40 parallel jobs and each calls the API to check deploy status. Since {when} half of them fail with 429. Same token for all jobs.", 1),
T("KB-api-rate-limits", "rate limit|429", "keep hitting 429 on the api"),
T("KB-api-rate-limits", "Deploy hook not triggering|Deploy hook limit", "Our deploy hook stopped triggering after we set up a bot that deploys on every content change. Is there a limit on deploy hooks?"),
T("KB-api-rate-limits", "Polling deploy status|Best way to wait for deploys", "We poll GET /v1/deploys/{id} every second until it finishes. Is there a better way that won't hit limits?"),
T("KB-rate-limit-increase", "Request rate limit increase|Higher API limit", "We're on Team and building an internal developer portal that manages about 300 services through your API. We need a higher rate limit than 1,200/min. How do we request it?"),
T("KB-rate-limit-increase", "Temporary limit increase|Migration rate limits", "We're migrating 150 services from another provider next week and our scripts will hit the API hard for a few days. Can we get a temporary increase?"),
T("KB-rate-limit-increase", "Service limit increase|Max services reached", "We hit the maximum number of services in our workspace. Can this be raised? We're on {plan}."),
T("KB-api-rate-limits", "Rate limited in production|Our automation is blocked", "Our autoscaling automation calls your API and now gets 429s, so it can't add capacity during our traffic peak. This is affecting production right now.", 1),
T(None, "API returns 500|Internal server error from API", "POST /v1/services returns 500 internal server error for us since this morning, with no body. Other endpoints work."),
T(None, "GraphQL API?|API versioning", "Is there a GraphQL API or only REST? And how long are old API versions supported?"),
T("KB-api-rate-limits", "Rate limits per token or workspace?|Separate tokens", "Are API rate limits per token or for the whole workspace? Thinking of creating separate tokens for our different tools."),
],
"database_connections": [
T("KB-db-connection-limits", "Too many connections|Database connection errors", "Our app started failing with '{db_err}' after we scaled {app} from 2 to 6 instances. Database is the {plan} size.", 1),
T("KB-db-connection-limits", "remaining connection slots are reserved|DB refusing connections", "FATAL: remaining connection slots are reserved for non-replication superuser connections. Production is throwing this on every other request. Help!", 1),
T("KB-db-connection-limits", "Connection pooling|PgBouncer", "Do you offer connection pooling for Postgres? We're using serverless functions and each invocation opens a connection."),
T("KB-db-connection-limits", "Prepared statement errors with pooler|Pooler issues", "We switched to the pooled connection string and now get 'prepared statement \"s1\" already exists' errors from our Node app. What should we change?"),
T("KB-db-connection-limits", "db connections|postgres errors", "{db_err}"),
T("KB-db-connection-strings", "SSL required error|Can't connect from local", "Trying to connect to our database from my laptop with psql and get 'SSL connection is required'. What connection string should I use?"),
T("KB-db-connection-strings", "Password reset broke connections|DB password changed", "I reset the database password and now our reporting tool can't connect. The app itself seems fine. Where do I get the new connection string?"),
T("KB-db-connection-strings", "Internal vs external URL|Which connection string", "What's the difference between the internal and external connection strings? Our worker in the same region is using the external one, is that bad?"),
T("KB-db-external-access", "Connection timeout from outside|Can't reach database", "Connecting to the database from our office times out. Worked from my home yesterday. Nothing in the logs."),
T("KB-db-external-access", "GitHub Actions can't connect to DB|CI database access", "Our migrations run in GitHub Actions and can't connect to the database, it just hangs. How do we allow it?"),
T("KB-db-external-access", "Private networking with AWS|VPC peering", "Can we connect our Stackbeam database to our AWS VPC privately? We don't want it on the public internet. We're on {plan}."),
T(None, "Database restore|Restore from backup", "A developer accidentally dropped a table in production {when}. Can you restore the database to a point before that? It's urgent.", 1),
T(None, "Upgrade Postgres version|Postgres 16", "When will Postgres 16 be available for managed databases? And can we upgrade in place?"),
T("KB-db-connection-limits", "Connection leaks?|Connections stay open", "Metrics show our database connections climbing all day until we restart the app. Is that something on your side or ours?"),
],
"sso_login": [
T("KB-saml-sso", "SSO setup|Configure Okta", "We want to require Okta SSO for everyone in our workspace. Where do we start? We're on {plan}."),
T("KB-saml-sso", "Azure AD SSO|Entra ID integration", "Is Microsoft Entra ID (Azure AD) supported for SSO? And can users be provisioned automatically when we add them to a group?"),
T("KB-saml-sso", "sso|saml", "how do i set up saml"),
T("KB-sso-errors", "SSO login error|Signature validation failed", "Since this morning nobody in our team can log in via SSO. Error: 'Signature validation failed'. We haven't changed anything... although IT might have rotated certificates.", 1),
T("KB-sso-errors", "User not assigned|New employee can't log in", "A new developer can't log in, she gets 'User not assigned' after signing into Okta. She was invited to the workspace yesterday."),
T("KB-sso-errors", "SSO NameID mismatch|Login fails for one user", "One of our engineers changed their surname and now SSO login fails with 'NameID mismatch'. Everyone else is fine."),
T("KB-sso-errors", "Locked out after enabling SSO|Nobody can log in", "I turned on 'Require SSO' and now nobody can log in, including me. I think the IdP config was wrong. We have a deploy to do in an hour. How do I get back in?", 1),
T("KB-2fa-recovery", "Lost 2FA device|Lost phone with authenticator", "I lost my phone with the authenticator app and can't log in. I don't know where the recovery codes are. I'm the only owner of the workspace.", 1),
T("KB-2fa-recovery", "2FA recovery codes|Recovery code not working", "I'm trying to use a recovery code to log in but it says invalid. I've used one of them before."),
T("KB-2fa-recovery", "Account recovery taking too long|Speed up recovery", "I requested account recovery 2 days ago because I lost my 2FA. Is there any way to speed it up? I can't deploy anything."),
T(None, "Login with GitHub broken|GitHub login", "'Continue with GitHub' just shows an error page for me since {when}. Email login works."),
T(None, "Audit log of logins|Who logged in", "We need an export of all login events for our workspace for an audit. Where can I find that?"),
T("KB-saml-sso", "Google Workspace SSO|SSO with Google", "Can we use Google Workspace as our SAML identity provider, and will existing members keep access to their projects when we switch?"),
T("KB-sso-errors", "clock skew error|SSO error", "sso login fails with clock skew error"),
],
"performance": [
T("KB-diagnose-latency", "Slow response times|API latency increased", "p95 latency of {app} went from about 200ms to over 2s since {when}. No deploys in between. CPU looks normal. What could cause this?", 1),
T("KB-diagnose-latency", "App slow for users in Asia|Latency by region", "Our users in Singapore say the app is very slow. The service runs in {region}. Is there something we can do?"),
T("KB-diagnose-latency", "Slow database queries?|Slow pages", "Some pages of {app} take 5-10 seconds. Metrics show CPU at 20%. How can I figure out where the time goes?"),
T("KB-diagnose-latency", "slow|app slow", "app is really slow today"),
T("KB-diagnose-latency", "High memory usage|Memory keeps growing", "Memory on our instances keeps climbing until they restart about every 6 hours, and the app gets slower and slower before that. Node 20, Express."),
T("KB-cold-starts", "First request slow|Cold start", "The first request to our app after a while takes 20-30 seconds, then it's fast. Is that normal? It's on the Hobby plan for now."),
T("KB-cold-starts", "Keep service awake|Service sleeping", "Can we keep our Hobby service from sleeping? We have a demo for investors on {weekday}."),
T("KB-cold-starts", "Slow after every deploy|Requests slow after restart", "After every deploy the first few minutes are really slow, some requests time out. We load a large ML model when the app starts serving."),
T("KB-autoscaling", "Autoscaling setup|Scale on traffic", "We get traffic spikes every morning at 9. How do we set up autoscaling so we don't have to add instances by hand?"),
T("KB-autoscaling", "Autoscaling not scaling|Stuck at max instances", "Autoscaling for {app} is set to max 4 instances and it sits at 4 all day now, latency is bad. Should we raise the max or is something else wrong?", 1),
T("KB-autoscaling", "Scaling down too slowly|Autoscaling costs", "Autoscaling seems to keep extra instances around long after traffic drops. It's costing us a lot. Can we make it scale down faster?"),
T(None, "CDN for static assets|Caching", "Do you have a built-in CDN for static assets, or should we put something in front? Our images load slowly."),
T(None, "Dedicated CPU|Noisy neighbours", "We suspect noisy neighbours on our instances, performance varies a lot from hour to hour with the same load. Do you offer dedicated CPU instances?"),
T("KB-diagnose-latency", "Checkout extremely slow|Performance incident", "Our checkout endpoint on {app} is taking 8+ seconds and customers are abandoning carts. Started about an hour ago. Need help ASAP.", 1),
],
"feature_request": [
T("KB-feature-requests", "Feature request|Suggestion", "It would be great if we could schedule deploys for a specific time, e.g. deploy at 2am. Is that on the roadmap?"),
T("KB-feature-requests", "Roadmap question|Is X planned?", "Are there plans to support ARM instances? We'd like to move our workers to ARM for cost reasons."),
T("KB-feature-requests", "feature request|request", "please add dark mode to the dashboard"),
T("KB-feature-requests", "Where to suggest features|Feedback", "Where's the best place to send feature ideas? We have a few and don't want to clutter support."),
T("KB-feature-requests", "Status of feature request|Any update on request", "We asked for per-branch environment variables about 6 months ago. Any update? It's becoming a real blocker for us."),
T(None, "Support for Elixir|Buildpack request", "Would love native Elixir/Phoenix support without having to write a Dockerfile. Many of us in the community would use it."),
T(None, "Terraform provider improvements|Terraform", "Your Terraform provider doesn't support managing environment groups. Could that be added? We manage everything else as code."),
T(None, "More regions|Region request", "Any chance of a region in South America? We have many users in Brazil and latency from nyc1 isn't great."),
T(None, "Team roles|Custom roles", "We'd like a read-only role for our support staff so they can see logs but not change settings. Currently everyone is admin or member."),
T(None, "Log retention|Longer log retention", "Can log retention be longer than 7 days? We need 30 days for compliance. Happy to pay extra."),
T("KB-feature-requests", "Vote for feature|Upvote request", "I saw the request for static IP egress on your roadmap. Can you add our workspace to it? We need it for a partner's firewall allowlist."),
T(None, "Slack notifications for deploys|Deploy notifications", "Can we get Slack notifications when a deploy fails? Right now we only find out when someone looks at the dashboard."),
T(None, "Cron job UI|Scheduled jobs", "It would be nice to see the history of cron job runs in the dashboard, with exit codes. Right now we have to dig through logs."),
T("KB-preview-features", "Beta access|Early access to new feature", "How can we get early access to the new preview environments feature mentioned in your changelog?"),
T("KB-preview-features", "Log explorer beta|Turn on beta feature", "saw the new log explorer in the changelog but can't find where to switch it on. we're admins on the workspace. is it safe to use on prod?"),
],
}

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
    write_text(os.path.join(d, "eval.jsonl"), "".join(
        dumps({"external_id": t["external_id"], "split": t["split"], "article": t["article"]}) + "\n"
        for t in tickets))


# ----------------------------------------------------------------- checks --

ARTICLE_KEYS = ["type", "external_id", "title", "body", "tags"]
TICKET_KEYS = ["type", "external_id", "subject", "body", "requester_email", "status", "priority",
               "category", "created_at", "first_response_at", "resolved_at"]
EVAL_KEYS = ["external_id", "split", "article"]
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
