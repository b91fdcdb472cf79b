"""What the tests share: waiting for a condition, named configurations, the driver matrix."""
