#!/usr/bin/python3
"""Write an SPDX 2.3 JSON software bill of materials for smtpcred.

  sbom.py OUT NAME VERSION DEP=VERSION...

DEP=VERSION are the libraries the build linked, with the versions meson
found (pkg-config).  Deterministic: the creation time is SOURCE_DATE_EPOCH
(else 0) and the namespace is derived from the contents, so two builds of
the same source give the same file.
"""
import hashlib
import json
import os
import sys
import time


def main():
    out, name, version = sys.argv[1:4]
    deps = [a.split("=", 1) for a in sys.argv[4:]]
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))

    def ref(n):
        return "SPDXRef-Package-" + "".join(c if c.isalnum() else "-" for c in n)

    packages = [{
        "name": name, "SPDXID": ref(name), "versionInfo": version,
        "downloadLocation": "NOASSERTION", "filesAnalyzed": False,
        "licenseConcluded": "LGPL-2.1-or-later",
        "licenseDeclared": "LGPL-2.1-or-later",
        "copyrightText": "2026 smtpcred maintainers",
        "primaryPackagePurpose": "LIBRARY",
    }]
    rels = [{"spdxElementId": "SPDXRef-DOCUMENT",
             "relationshipType": "DESCRIBES", "relatedSpdxElement": ref(name)}]
    for dep, ver in deps:
        packages.append({
            "name": dep, "SPDXID": ref(dep), "versionInfo": ver,
            "downloadLocation": "NOASSERTION", "filesAnalyzed": False,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER",
                              "referenceType": "purl",
                              "referenceLocator": "pkg:generic/%s@%s" % (dep, ver)}],
        })
        rels.append({"spdxElementId": ref(name),
                     "relationshipType": "DEPENDS_ON",
                     "relatedSpdxElement": ref(dep)})
    doc = {
        "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT", "name": "%s-%s" % (name, version),
        "creationInfo": {"created": created,
                         "creators": ["Tool: smtpcred-sbom.py"]},
        "packages": packages, "relationships": rels,
    }
    body = json.dumps(doc, sort_keys=True).encode()
    doc["documentNamespace"] = "https://smtpcred.invalid/spdx/%s-%s-%s" % (
        name, version, hashlib.sha256(body).hexdigest()[:16])
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")


main()
