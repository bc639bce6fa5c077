"""The synthetic world: borrowers, loans, potential outcomes under every arm, a logged
history with propensities, and instalment histories.

``portfolio`` draws the book and its truth, ``outcomes`` the response of every arm (hold
included) and its discounted money, ``logging_policy`` the lender's rule and the
exploring policy that logged the history, ``payments`` the monthly instalment histories
early warning learns from.
"""
