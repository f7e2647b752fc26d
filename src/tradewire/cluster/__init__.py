"""Running several instances as one: a message bus between instances and the feed leader lease.

This package carries what instances tell each other (quotes from the feed leader, user pushes,
session revocations, resting-order notices) and decides which instance runs the market feed.
"""
