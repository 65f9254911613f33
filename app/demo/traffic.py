"""Who the demo's visitors are and what they do: browsers, places, pages, referrers and
campaigns, each with its share (weights are relative)."""

from __future__ import annotations

from app.enrichment.geo import Location, Network
from app.enrichment.useragent import ClientAgent

CONSENT_MIX = (("accept_all", 0.55), ("reject_all", 0.3), ("custom", 0.15))
LANGUAGES = ("en", "de", "fr", "es")

AGENTS = (
    (ClientAgent("Chrome", "130", "Windows", "10", "desktop", False, False), 0.3),
    (ClientAgent("Chrome Mobile", "130", "Android", "14", "mobile", False, False), 0.2),
    (ClientAgent("Mobile Safari", "18", "iOS", "18.1", "mobile", False, False), 0.18),
    (ClientAgent("Safari", "18", "Mac OS X", "10.15", "desktop", False, False), 0.1),
    (ClientAgent("Firefox", "132", "Linux", "", "desktop", False, False), 0.06),
    (ClientAgent("Firefox", "132", "Windows", "10", "desktop", False, False), 0.03),
    (ClientAgent("Edge", "130", "Windows", "10", "desktop", False, False), 0.07),
    (ClientAgent("Samsung Internet", "26", "Android", "14", "mobile", False, False), 0.02),
    (ClientAgent("Mobile Safari", "18", "iOS", "18.1", "tablet", False, False), 0.04),
)
BOT_AGENTS = (
    ClientAgent("Googlebot", "2", "Other", "", "bot", True, False),
    ClientAgent("bingbot", "2", "Other", "", "bot", True, False),
    ClientAgent("AhrefsBot", "7", "Other", "", "bot", True, False),
)
PLACES = (
    ((Location("DE", "BE", "Berlin"), Network(3320, "Deutsche Telekom AG", "telekom.de")), 0.12),
    ((Location("DE", "BY", "Munich"), Network(3209, "Vodafone GmbH", "vodafone.de")), 0.08),
    ((Location("DE", "HH", "Hamburg"), Network(3320, "Deutsche Telekom AG", "telekom.de")), 0.05),
    ((Location("FR", "IDF", "Paris"), Network(3215, "Orange S.A.", "orange.com")), 0.12),
    ((Location("FR", "ARA", "Lyon"), Network(12322, "Free SAS", "free.fr")), 0.04),
    ((Location("GB", "ENG", "London"), Network(2856, "British Telecommunications", "bt.com")), 0.1),
    ((Location("GB", "SCT", "Edinburgh"), Network(5089, "Virgin Media", "virginmedia.com")), 0.03),
    ((Location("US", "CA", "San Francisco"), Network(7922, "Comcast Cable", "comcast.com")), 0.08),
    ((Location("US", "NY", "New York"), Network(701, "Verizon Business", "verizon.com")), 0.06),
    ((Location("NL", "NH", "Amsterdam"), Network(1136, "KPN B.V.", "kpn.com")), 0.08),
    ((Location("ES", "MD", "Madrid"), Network(3352, "Telefonica Espana", "telefonica.es")), 0.07),
    ((Location("SE", "AB", "Stockholm"), Network(3301, "Telia Company AB", "telia.com")), 0.05),
    ((Location("AT", "9", "Vienna"), Network(8447, "A1 Telekom Austria AG", "a1.net")), 0.04),
    ((None, None), 0.04),
)
PAGES = (
    (("/demo", "Heedful demo shop"), 0.26),
    (("/demo/shoes", "Shoes"), 0.14),
    (("/demo/shoes/trail-runner", "Trail Runner"), 0.1),
    (("/demo/shoes/city-walker", "City Walker"), 0.07),
    (("/demo/bags", "Bags"), 0.08),
    (("/demo/bags/day-pack", "Day Pack 20 l"), 0.05),
    (("/demo/jackets/rain-shell", "Rain Shell"), 0.07),
    (("/demo/journal/choosing-trail-shoes", "How to choose trail shoes"), 0.08),
    (("/demo/help/returns", "Returns"), 0.05),
    (("/demo/help/size-guide", "Size guide"), 0.05),
    (("/demo/about", "About us"), 0.05),
)
SEARCHES = (
    "trail shoes",
    "rain jacket",
    "gift card",
    "size guide",
    "returns",
    "wool socks",
    "day pack",
    "waterproof boots",
)
# Search engines with the query (Bing, DuckDuckGo, Ecosia) and without it (Google), social
# networks, a news site and direct traffic (None).
REFERRERS = (
    (None, 0.34),
    ("https://www.google.com/", 0.22),
    ("https://www.bing.com/search?q={q}", 0.1),
    ("https://duckduckgo.com/?q={q}", 0.07),
    ("https://www.ecosia.org/search?q={q}", 0.04),
    ("https://mastodon.social/", 0.05),
    ("https://www.reddit.com/r/trailrunning/", 0.05),
    ("https://news.example/outdoor/best-shoes", 0.08),
    ("https://blog.example.org/packing-list", 0.05),
)
# The winter-sale campaign: landing tags and the referrer each channel sends.
CAMPAIGNS = (
    (("utm_source=newsletter&utm_medium=email", None), 0.55),
    (("utm_source=mastodon&utm_medium=social", "https://mastodon.social/"), 0.25),
    (("utm_source=linkedin&utm_medium=social", "https://www.linkedin.com/"), 0.2),
)
DOWNLOADS = (
    "/demo/files/price-list.pdf",
    "/demo/files/size-guide.pdf",
    "/demo/files/catalogue-2026.pdf",
)
OUTBOUND = (
    "https://example.org/partner",
    "https://www.strava.com/clubs/heedful",
    "https://maps.example.com/store",
)
