"""Paper trading: orders, fills, positions, portfolios."""
