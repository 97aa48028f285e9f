"""Live carbon signals: Electricity Maps and WattTime API clients, and a failover monitor that appends
the points into a local sqlite store in the panel format (:mod:`forecast.data.schema`)."""
