def test_chromium_loads_the_demo_page(page, live_server, demo_site):
    page.goto(live_server.url + "/demo")
    assert page.title() == "Heedful demo shop"
