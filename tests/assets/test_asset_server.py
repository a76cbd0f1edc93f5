"""``--publish-url https://…``: a self-hosted asset server speaking iterative/cml's upload protocol."""

import hashlib

from tests.assets.conftest import CONFUSION, LOCAL, content_name, expected_report
from tests.fakes.server import Response


class FakeAssetServer:
    """Stores each POSTed body and answers with its URL as plain text, as iterative/cml's server does."""

    def __init__(self):
        self.base_url = ""
        self.files: dict[str, tuple[str, str, bytes]] = {}

    def handle(self, request):
        if request.method == "GET":
            stored = self.files.get(request.path.lstrip("/"))
            return Response(200, stored[2], {"Content-Type": stored[0]}) if stored else Response(404)
        key = hashlib.sha256(request.body).hexdigest()[:16]
        self.files[key] = (request.headers.get("Content-Type"), request.headers.get("Content-Disposition"), request.body)
        return Response(200, f"{self.base_url}/{key}".encode(), {"Content-Type": "text/plain"})


def test_files_go_to_the_named_server_and_its_urls_are_linked(actions, github, report_folder, serve, run_cli):
    fake = FakeAssetServer()
    server = serve(fake)
    result = run_cli("comment", "create", "report.md", "--publish-url", server.url + "/")
    assert result.exit_code == 0, result.stderr
    by_name = {disposition.split('filename="')[1].rstrip('"'): f"{server.url}/{key}"
               for key, (_, disposition, _) in fake.files.items()}
    assert sorted(by_name) == sorted({content_name(d, e) for d, e in LOCAL.values()})
    (comment,) = github.comments_on(number=7)
    assert comment["body"].startswith(expected_report(lambda name: by_name[name]).rstrip())
    key = by_name[content_name(CONFUSION, ".png")].rsplit("/", 1)[1]
    assert fake.files[key][0] == "image/png" and fake.files[key][2] == CONFUSION


def test_publish_url_must_be_s3_or_http_and_not_combined_with_native(actions, github, report_folder, run_cli):
    result = run_cli("comment", "create", "report.md", "--publish-url", "ftp://files.example/x")
    assert result.exit_code == 1
    assert result.stderr == ("cml: error: --publish-url: cannot publish to 'ftp://files.example/x'; "
                             "use s3://BUCKET/PREFIX or an https:// asset server\n")
    both = run_cli("comment", "create", "report.md", "--publish-url", "s3://b/p", "--native")
    assert both.exit_code == 1 and "--native publishes to the forge's own storage" in both.stderr
    assert github.comments_on(number=7) == []
