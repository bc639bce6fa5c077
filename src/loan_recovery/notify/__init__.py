"""Reminders: templates, contact policy, the outbox and the email and SMS senders.

The path of a reminder: :mod:`~loan_recovery.notify.reminders` turns target loans into
messages (channel, language, facts, first allowed send time) and queues them in the
store's outbox, once per (loan, campaign, date); :mod:`~loan_recovery.notify.dispatch`
claims due messages, checks the contact policy (:mod:`~loan_recovery.notify.policy`)
again, renders (:mod:`~loan_recovery.notify.templates`) and sends them
(:mod:`~loan_recovery.notify.senders`), one transaction per step, so that a crash or a
rerun never sends a reminder twice nor loses one.
"""
