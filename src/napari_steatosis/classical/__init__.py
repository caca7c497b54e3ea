"""The classical steatosis pipeline: white-region candidates, region features, a classifier."""
