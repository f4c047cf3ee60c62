"""Search API: customer service's view of orders, always saying how fresh it is."""
