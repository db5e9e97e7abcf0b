"""Which files of a repo are its weights, and the request plan that reads their headers."""
