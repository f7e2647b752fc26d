"""User accounts, password hashing and login sessions."""
