"""The aiohttp gateway: publishes commands to Kafka, awaits the agents' replies,
answers queries from the read models in storage/."""
