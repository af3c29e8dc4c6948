"""The composites, each a list of steps from the layers below: consolidate, release, restore,
pg_upgrade, compose upgrade; and the plan (--plan) of any of them."""
