"""The AWS stand-in: a moto server and the seeded estate (names, data, network) the scenarios act on."""
