"""Development and proof tools, apart from the core: the sandbox (a stand-in for the admin APIs), the benchmark,
the fault suite and relay up's process supervision. The core never imports them."""
