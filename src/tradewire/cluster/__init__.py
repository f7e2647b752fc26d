"""Running several instances as one: a message bus between instances and the feed leader lease.

Fan-out to sockets is python-socketio's Redis manager; this package carries what instances tell
each other (quotes from the feed leader, session revocations, resting-order notices) and decides
which instance runs the market feed.
"""
