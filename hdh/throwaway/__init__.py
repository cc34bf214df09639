"""Throwaway environments: a stack made from a base stack, tested, torn down, reaped by TTL."""
