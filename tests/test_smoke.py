from tests.conftest import give_consent


def test_policy_and_consent_round_trip(client, site):
    policy = client.get(f"/api/v1/sites/{site}/policy?lang=de").get_json()
    assert policy["lang"] == "de"
    assert [c["key"] for c in policy["categories"]] == [
        "necessary",
        "analytics",
        "marketing",
        "preferences",
    ]
    given = give_consent(client, site)
    status = client.get(f"/api/v1/consent/{given['consent_id']}").get_json()
    assert status["status"] == "active"
    assert status["choices"]["analytics"] is True
