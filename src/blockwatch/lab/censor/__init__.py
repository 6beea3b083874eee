"""The lab's censor techniques."""
