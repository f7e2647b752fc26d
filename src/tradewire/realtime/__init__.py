"""The real-time layer: Socket.IO server, rate limiting, pushes of domain events to clients."""
