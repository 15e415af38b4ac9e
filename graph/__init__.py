"""ChargeGraph: a GraphQL API for the connectors of EV charging networks."""
