"""Search spaces (one folder each) and the `Model` base class they share."""
