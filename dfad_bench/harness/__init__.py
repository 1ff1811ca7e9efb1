"""The harness: trains and scores a model on a protocol and stores a run record."""
