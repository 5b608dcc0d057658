"""The page and its static files are served."""


def test_index_links_to_the_api(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/docs" in page.text and "/static/css/style.css" in page.text
    assert client.get("/static/css/style.css").status_code == 200
