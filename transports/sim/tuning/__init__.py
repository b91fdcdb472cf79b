"""``swimcore tune``'s engine: simulate candidate configurations and recommend one."""
