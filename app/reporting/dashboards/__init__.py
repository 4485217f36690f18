"""What each role sees first: the home dashboard."""
