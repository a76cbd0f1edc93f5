"""The fake GitHub's contract check rejects what GitHub's OpenAPI description does not allow."""

import requests


def test_contract_check_rejects_bad_requests(github):
    github.add_token("ghs_x1234", "bot")
    headers = {"Authorization": "token ghs_x1234"}
    base = f"{github.base_url}/repos/octo/models"
    assert requests.post(f"{base}/issues/7/comments", json={"text": "x"}, headers=headers, timeout=5).status_code == 400
    assert requests.get(f"{base}/issues/7/comments?per_page=lots", headers=headers, timeout=5).status_code == 400
    assert requests.get(f"{base}/issues/7/comments?colour=red", headers=headers, timeout=5).status_code == 400
    assert requests.put(f"{base}/issues/7/comments", json={"body": "x"}, headers=headers, timeout=5).status_code == 400
    assert requests.post(f"{base}/issues/7/comments", json={"body": "ok"}, headers=headers, timeout=5).status_code == 201
    assert len(github.violations) == 4
    github.violations.clear()
