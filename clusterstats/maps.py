"""Choropleth maps of NUTS regions from Eurostat GISCO geometries, in the house style.

::

    from clusterstats import figures as cf, maps

    regions = maps.load_nuts(level=2, country="BG", year=2016)      # 6 NUTS 2 regions
    fig, ax = cf.new_figure("single")
    m = maps.choropleth(ax, regions, gerd_2023, key="geo", value="value", unit="% of GDP",
                        label="GERD", source="Source: Eurostat tgs00042, vintage 2026-05-12.")
    cf.save_figure(fig, "gerd_nuts2_2023", data=m.data, sources=[..., maps.gisco_source(regions)])

Geometries. Bulgaria's NUTS 2016 (1:1 million, levels 0–2) and NUTS 2021 (1:3 million, levels
0–3) region polygons ship in ``data/gisco/`` (see its README for source and sha256; every read is
checked against ``SHA256SUMS``). Other countries are read from the full European files in the
shared mirror (``mirror/gisco/nuts/<year>/``) when it is present; otherwise :func:`load_nuts`
says which file is missing.

Projection. Choropleths compare regions by colour over their area, so the map must be equal-area;
plain longitude/latitude would stretch Bulgaria east–west by 1/cos(43°) ≈ 1.37. Europe-wide maps
use ETRS89-LAEA Europe (EPSG:3035), Eurostat's projection for statistical maps. EPSG:3035 is
centred on 10°E 52°N, though, and at Bulgaria (25°E) its meridians lean about 12° off vertical,
so the country looks rotated. For a map of one country the default ``crs="auto"`` therefore uses
the same Lambert azimuthal equal-area projection on the same GRS80 ellipsoid, recentred on the
regions (centre rounded to 0.5°): areas stay true and north is up through the middle of the map.

Colours. A sequential, perceptually uniform, colour-blind-safe map (viridis by default); regions
without a value are hatched light grey and the key says "No data", so a missing value is never
mistaken for a low one. The GISCO licence asks every map to credit EuroGeographics; the source
line does that.
"""
from __future__ import annotations

import gzip
import io
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib as mpl
import pandas as pd

from . import figures
from ._paths import data_dir, mirror_dir
from .provenance import sha256_bytes

__all__ = ["NUTS_FILES", "Choropleth", "load_nuts", "gisco_source", "choropleth", "new_map_figure",
           "dissolve_units", "GISCO_ATTRIBUTION", "MAP_CRS", "map_crs"]

#: ETRS89-LAEA Europe: equal-area; Eurostat's projection for European statistical maps.
MAP_CRS = "EPSG:3035"


def map_crs(gdf, crs: str = "auto") -> str:
    """The projection to draw ``gdf`` in: ``crs`` itself unless it is ``"auto"``, which gives
    EPSG:3035 for several countries and an equal-area LAEA centred on the regions for one."""
    if crs != "auto":
        return crs
    if "CNTR_CODE" in gdf.columns and gdf["CNTR_CODE"].nunique() > 1:
        return MAP_CRS
    lon0, lat0, lon1, lat1 = gdf.to_crs("EPSG:4326").total_bounds
    lon_c, lat_c = round((lon0 + lon1) / 2 * 2) / 2, round((lat0 + lat1) / 2 * 2) / 2
    return (f"+proj=laea +lat_0={lat_c:g} +lon_0={lon_c:g} +x_0=0 +y_0=0 +ellps=GRS80 "
            "+units=m +no_defs +type=crs")


GISCO_ATTRIBUTION = "© EuroGeographics for the administrative boundaries"

#: Where the GISCO files in data/gisco and the mirror were taken from (data/gisco/README.md).
GISCO_ORIGIN = {"repository": "andrea-ballatore/open-geo-data-education",
                "commit": "b9df643cc9ab0d3d61d87eab29aab2b8fa74b1d2",
                "vintage": "2020-12-27"}  # commit date: an upper bound for the download date

#: (year) -> (GISCO scale code available, levels available). Only what the mirror holds.
NUTS_FILES: dict[int, tuple[str, tuple[int, ...]]] = {
    2016: ("01M", (0, 1, 2)),
    2021: ("03M", (0, 1, 2, 3)),
}
_SCALE_TEXT = {"01M": "1:1 million", "03M": "1:3 million", "10M": "1:10 million",
               "20M": "1:20 million", "60M": "1:60 million"}
_KEEP = ["NUTS_ID", "CNTR_CODE", "LEVL_CODE", "NAME_LATN", "NUTS_NAME"]


def _gisco_dir() -> Path:
    return data_dir() / "gisco"


def _shipped_checksums() -> dict[str, str]:
    path = _gisco_dir() / "SHA256SUMS"
    if not path.is_file():
        return {}
    sums = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 64:
            raise ValueError(f"{path}: line {n} is not '<sha256>  <file>': {line!r}")
        sums[parts[1].lstrip("*")] = parts[0]
    return sums


def load_nuts(level: int = 2, country: str | None = "BG", year: int = 2016, *,
              scale: str | None = None):
    """NUTS regions of one level as a GeoDataFrame (EPSG:4326), one row per region, by NUTS_ID.

    ``country`` is the two-letter GISCO country code (``CNTR_CODE``; Greece is ``EL``), or None
    for every country in the file. Bulgarian geometries and the European NUTS 2021 level-2 file
    come from ``data/gisco/`` (checksummed); other files from the shared mirror when present.

    Columns: ``NUTS_ID, CNTR_CODE, LEVL_CODE, NAME_LATN, NUTS_NAME, geometry``. ``gdf.attrs["gisco"]``
    records the file, its sha256, the NUTS year, scale and level (see :func:`gisco_source`).
    """
    import geopandas as gpd

    if year not in NUTS_FILES:
        raise ValueError(f"NUTS year {year} not available; choose one of {sorted(NUTS_FILES)}")
    default_scale, levels = NUTS_FILES[year]
    scale = scale or default_scale
    if scale != default_scale:
        raise ValueError(f"NUTS {year} geometries exist here only at scale {default_scale} "
                         f"({_SCALE_TEXT[default_scale]}), not {scale}")
    if level not in levels:
        hint = " (the level-3 districts exist for year=2021)" if level == 3 else ""
        raise ValueError(f"NUTS {year} has no level-{level} file here; levels {levels}{hint}")
    if country is not None and not (isinstance(country, str) and len(country) == 2):
        raise ValueError(f"country must be a two-letter GISCO code such as 'BG', not {country!r}")
    country = country.upper() if country else None

    stem = f"NUTS_RG_{scale}_{year}_4326_LEVL_{level}"
    shipped = _gisco_dir() / f"{stem}_{country}.geojson" if country else None
    if shipped is not None and shipped.is_file():
        raw = shipped.read_bytes()
        digest = sha256_bytes(raw)
        expected = _shipped_checksums().get(shipped.name)
        if expected is None:
            raise ValueError(f"{shipped}: no sha256 recorded in {_gisco_dir() / 'SHA256SUMS'}")
        if digest != expected:
            raise ValueError(f"{shipped}: sha256 {digest} differs from the recorded {expected}; "
                             "the file was changed or damaged, restore it from git")
        origin = f"data/gisco/{shipped.name}"
    else:
        # The European NUTS 2021 level-2 file ships too (0.8 MB), so maps of any country's NUTS 2
        # regions work on a fresh clone; other European files are read from the mirror.
        full = _gisco_dir() / f"{stem}.geojson.gz"
        if not full.is_file():
            full = mirror_dir() / "gisco" / "nuts" / str(year) / f"{stem}.geojson.gz"
        if not full.is_file():
            raise FileNotFoundError(
                f"no geometries for country={country!r}, NUTS {year} level {level}: only Bulgaria "
                f"ships in data/gisco/, and the European file {full.name} is not in the shared mirror "
                f"({full.parent}). Get it from GISCO (https://gisco-services.ec.europa.eu/distribution/"
                f"v2/nuts/geojson/) and place it there.")
        gz = full.read_bytes()
        digest = sha256_bytes(gz)
        if full.parent == _gisco_dir():
            expected = _shipped_checksums().get(full.name)
            if digest != expected:
                raise ValueError(f"{full}: sha256 {digest} differs from the recorded {expected}; "
                                 "the file was changed or damaged, restore it from git")
            origin = f"data/gisco/{full.name}"
        else:
            origin = f"mirror/gisco/nuts/{year}/{full.name}"
        raw = gzip.decompress(gz)
    try:
        gdf = gpd.read_file(io.BytesIO(raw))
    except Exception as exc:  # pyogrio raises several types; say which file failed
        raise ValueError(f"{origin}: not a readable GeoJSON file ({exc})") from exc
    missing = [c for c in _KEEP if c not in gdf.columns]
    if missing:
        raise ValueError(f"{origin}: GISCO properties {missing} missing; columns are {list(gdf.columns)}")
    if gdf.crs is None or gdf.crs.to_epsg() != 4326:
        raise ValueError(f"{origin}: expected EPSG:4326, found {gdf.crs}")
    if country:
        gdf = gdf[gdf["CNTR_CODE"] == country]
        if gdf.empty:
            raise ValueError(f"{origin}: no regions with CNTR_CODE={country!r} (Greece is 'EL', "
                             "the United Kingdom 'UK')")
    gdf = gdf[gdf["LEVL_CODE"].astype(int) == level]
    dupes = gdf["NUTS_ID"][gdf["NUTS_ID"].duplicated()].tolist()
    if dupes:
        raise ValueError(f"{origin}: NUTS_ID repeated: {dupes}")
    gdf = gdf[_KEEP + ["geometry"]].sort_values("NUTS_ID").reset_index(drop=True)
    gdf.attrs["gisco"] = {"publisher": "Eurostat GISCO", "dataset": f"NUTS {year} regions (RG)",
                          "file": origin, "sha256": digest, "nuts_year": year, "level": level,
                          "scale": _SCALE_TEXT[scale], "crs": "EPSG:4326", "country": country,
                          "attribution": GISCO_ATTRIBUTION,
                          "retrieved_from": f"{GISCO_ORIGIN['repository']}@{GISCO_ORIGIN['commit']}",
                          "vintage": GISCO_ORIGIN["vintage"]}
    return gdf


def gisco_source(gdf) -> dict[str, Any]:
    """The geometry source of a :func:`load_nuts` frame, ready for ``save_figure(sources=...)``."""
    try:
        return dict(gdf.attrs["gisco"])
    except KeyError:
        raise ValueError("this GeoDataFrame did not come from maps.load_nuts(); record its "
                         "geometry source by hand") from None


def dissolve_units(gdf, units: pd.DataFrame, *, unit: str = "unit_id", code: str = "code",
                   label: str | None = "label"):
    """Merge regions of ``gdf`` into harmonised units (e.g. HU10 = HU11 + HU12, or PT16+PT18
    drawn from the NUTS 2021 polygons of PT16 and PT18), one polygon per unit.

    ``units`` has one row per (unit, member code of ``gdf``'s NUTS version). Each unit's members
    are dissolved into one geometry (geopandas ``dissolve``, a GEOS unary union) whose
    ``NUTS_ID`` is the unit's id and whose ``NAME_LATN`` is ``units[label]`` (the members, so the
    map says what was merged; the member names joined when ``label`` is None). Regions that
    belong to no unit are kept as they are. A code that is not a region of ``gdf``, or that two
    units claim, raises ValueError naming it. ``attrs`` (the GISCO source) are kept.
    """
    import geopandas as gpd

    for col in (unit, code) + ((label,) if label else ()):
        if col not in units.columns:
            raise KeyError(f"column {col!r} not in units (columns: {list(units.columns)})")
    pairs = units[[unit, code] + ([label] if label else [])].drop_duplicates([unit, code])
    unknown = sorted(set(pairs[code]) - set(gdf["NUTS_ID"]))
    if unknown:
        raise ValueError(f"codes {_few(unknown)} are not regions of this map")
    twice = pairs[pairs[code].duplicated(keep=False)]
    if len(twice):
        raise ValueError(f"codes {_few(sorted(set(twice[code])))} belong to several units "
                         f"({_few(sorted(set(twice[unit])))}); draw them as one unit or leave them out")
    member = gdf.merge(pairs, left_on="NUTS_ID", right_on=code, how="inner")
    if label:
        names = member.groupby(unit)[label].first()
    else:
        names = member.groupby(unit)["NAME_LATN"].agg(lambda s: " + ".join(s))
    merged = member.dissolve(by=unit, aggfunc={"CNTR_CODE": "first", "LEVL_CODE": "first",
                                               "NUTS_NAME": lambda s: " + ".join(s)})
    merged = merged.reset_index().rename(columns={unit: "NUTS_ID"})
    merged["NAME_LATN"] = merged["NUTS_ID"].map(names)
    rest = gdf[~gdf["NUTS_ID"].isin(pairs[code])]
    out = gpd.GeoDataFrame(pd.concat([rest, merged[list(rest.columns)]], ignore_index=True),
                           geometry="geometry", crs=gdf.crs)
    out = out.sort_values("NUTS_ID").reset_index(drop=True)
    out.attrs.update(gdf.attrs)
    return out


@dataclass
class Choropleth:
    """What :func:`choropleth` drew: ``data`` is the table plotted (pass it to ``save_figure``)."""

    data: pd.DataFrame
    colorbar: Any
    norm: Any
    cmap: Any


def _text_colour(rgba) -> str:
    """Black or white, whichever contrasts more with the fill (WCAG relative luminance)."""
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgba[:3])
    lum = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "black" if lum > 0.179 else "white"


def _few(items, n: int = 8) -> str:
    """A list for an error message, cut after ``n`` items."""
    items = list(items)
    return f"{items[:n]}" + (f" and {len(items) - n} more" if len(items) > n else "")


def _label_point(geom):
    """Where a region's label goes: the pole of inaccessibility of its largest part (the interior
    point farthest from the border; Garcia-Castellanos & Lombardo 2007 via shapely's polylabel),
    which suits concave regions better than the centroid."""
    from shapely.ops import polylabel

    part = max(getattr(geom, "geoms", [geom]), key=lambda g: g.area)
    return polylabel(part, tolerance=max(part.length / 1000.0, 1e-9))


def new_map_figure(gdf, width: str | float = "single", *, crs: str = "auto",
                   extra_mm: float | None = None):
    """A house-style figure whose height fits the map of ``gdf`` at ``width`` (returns fig, ax).

    ``extra_mm`` leaves room for the colour bar and the source line below the map (default
    24 mm at single-column width, where the source line wraps more, 18 mm when wider).
    """
    minx, miny, maxx, maxy = gdf.to_crs(map_crs(gdf, crs)).total_bounds
    w = figures._width_mm(width)
    if extra_mm is None:
        extra_mm = 24.0 if w < 120 else 18.0
    return figures.new_figure(w, w * (maxy - miny) / (maxx - minx) + extra_mm)


def choropleth(ax, gdf, values_df: pd.DataFrame, key: str = "geo", value: str = "value", *,
               unit: str, source: str, label: str | None = None, flag: str | None = None,
               cmap: str | Any = "viridis", vmin: float | None = None, vmax: float | None = None,
               labels: str | None = "auto", value_format: str = "{:.2f}",
               orientation: str = "horizontal", missing_label: str = "No data",
               crs: str = "auto", edgecolor: str = "white") -> Choropleth:
    """Shade the regions of ``gdf`` by ``values_df[value]``, matched on ``values_df[key]`` = NUTS_ID.

    ``values_df`` is tidy: one row per region (other rows, e.g. another year, must be filtered
    out first). ``unit`` labels the colour bar (required; ``label`` is the quantity's name).
    ``source`` is the data source line; the GISCO attribution is appended to it. ``labels``:
    ``"name"``, ``"id"``, ``"value"``, ``"name+value"``, ``"id+value"``, None, or ``"auto"``
    (names for NUTS 0–2; codes for NUTS 3 on figures at least 120 mm wide, none on narrower ones,
    where 28 codes at 7 pt would overlap). With ``flag`` the Eurostat flag letters are
    printed after the values and explained in the footer. Regions without a value are hatched and
    shown as ``missing_label`` beside the colour bar. ``crs``: see :func:`map_crs`.

    Raises ValueError naming the rows when keys repeat, are not regions of ``gdf``, or values are
    not numbers. Returns a :class:`Choropleth`.
    """
    from matplotlib import patheffects
    from matplotlib.colors import Normalize
    from matplotlib.patches import Patch
    import matplotlib.cm as cm

    cbar_label = figures.axis_label(label or "Value", unit)
    if not isinstance(source, str) or not source.strip():
        raise ValueError("choropleth needs the data source line, e.g. 'Source: Eurostat tgs00042, "
                         "vintage 2026-05-12.'")
    for col in (key, value) + ((flag,) if flag else ()):
        if col not in values_df.columns:
            raise KeyError(f"column {col!r} not in values_df (columns: {list(values_df.columns)})")
    if "NUTS_ID" not in gdf.columns:
        raise ValueError("gdf needs a NUTS_ID column (use maps.load_nuts)")

    vals = values_df[[key, value] + ([flag] if flag else [])].copy()
    vals[key] = vals[key].astype(str)
    dup = vals[key].duplicated(keep=False)
    if dup.any():
        rows = vals.index[dup].tolist()
        raise ValueError(f"values_df has several rows per region for {sorted(set(vals.loc[dup, key]))} "
                         f"(rows {rows}); filter to one year/unit/sector first")
    unknown = vals[~vals[key].isin(gdf["NUTS_ID"])]
    if len(unknown):
        raise ValueError(f"values_df rows {_few(unknown.index)}: {key} "
                         f"{_few(unknown[key])} are not regions of this map "
                         f"({len(gdf)} regions, e.g. {gdf['NUTS_ID'].iloc[0]}); a national total or a "
                         "code of another NUTS version or level?")
    numeric = pd.to_numeric(vals[value], errors="coerce")
    bad = vals.index[numeric.isna() & vals[value].notna()].tolist()
    if bad:
        raise ValueError(f"values_df rows {bad}: {value} is not a number: "
                         f"{vals.loc[bad, value].tolist()}")
    vals[value] = numeric.astype(float)
    if flag:
        parsed = []
        for idx, v in zip(vals.index, vals[flag]):
            try:
                parsed.append(figures.parse_flags(v))
            except ValueError as exc:
                raise ValueError(f"values_df row {idx!r} ({key}={vals.at[idx, key]}): {exc}") from None
        vals["_flags"] = parsed

    if vals[value].isna().all():
        raise ValueError(f"values_df has no numeric {value!r} for any region: nothing to shade")
    geo = gdf.to_crs(map_crs(gdf, crs))
    merged = geo.merge(vals, how="left", left_on="NUTS_ID", right_on=key)
    present = merged[value].notna()
    finite = merged.loc[present, value]
    lo = vmin if vmin is not None else (float(finite.min()) if len(finite) else 0.0)
    hi = vmax if vmax is not None else (float(finite.max()) if len(finite) else 1.0)
    if hi == lo:
        hi = lo + 1.0  # a single value still needs a scale; its colour is the low end
    norm = Normalize(vmin=lo, vmax=hi)
    cmap = mpl.colormaps[cmap] if isinstance(cmap, str) else cmap

    fills = [cmap(norm(v)) if ok else (0.94, 0.94, 0.94, 1.0) for v, ok in zip(merged[value], present)]
    merged.loc[present].plot(ax=ax, color=[f for f, ok in zip(fills, present) if ok],
                             edgecolor=edgecolor, linewidth=0.6)
    if (~present).any():
        merged.loc[~present].plot(ax=ax, facecolor="#f0f0f0", edgecolor="#8c8c8c", hatch="/////",
                                  linewidth=0.5)
        # outline again in the common edge colour so borders look the same everywhere
        merged.loc[~present].boundary.plot(ax=ax, color=edgecolor, linewidth=0.6)
    ax.set_aspect("equal")
    ax.set_axis_off()

    mode = labels
    if mode == "auto":
        # 28 district codes at 7 pt overlap below ~120 mm width; leave them to the caption there
        wide = ax.figure.get_figwidth() * figures.MM_PER_INCH >= 120
        mode = "name" if int(merged["LEVL_CODE"].iloc[0]) < 3 else ("id" if wide else None)
    if mode not in ("name", "id", "value", "name+value", "id+value", None):
        raise ValueError(f"labels must be 'auto', 'name', 'id', 'value', 'name+value', 'id+value' "
                         f"or None, not {labels!r}")
    flags_seen: set[str] = set()
    if mode:
        points = [_label_point(g) for g in merged.geometry]
        for i, row in merged.iterrows():
            parts = []
            if "name" in mode:
                parts.append(textwrap.fill(str(row["NAME_LATN"]), 12, break_long_words=False))
            if "id" in mode:
                parts.append(str(row["NUTS_ID"]))
            if "value" in mode:
                text = value_format.format(row[value]) if present[i] else "n/a"
                if flag and isinstance(row.get("_flags"), str) and row["_flags"]:
                    text += f" {row['_flags']}"
                    flags_seen |= set(row["_flags"])
                parts.append(text)
            # a halo in the region's own colour keeps the label legible where it crosses a
            # border or the hatching of a missing region
            halo = [patheffects.withStroke(linewidth=1.8, foreground=fills[i])]
            ax.annotate("\n".join(parts), (points[i].x, points[i].y), ha="center", va="center",
                        fontsize=figures.SMALL_FONT_PT, color=_text_colour(fills[i]),
                        path_effects=halo, gid="clusterstats-region-label")

    fig = ax.figure
    sm = cm.ScalarMappable(norm=norm, cmap=cmap)
    cbar = fig.colorbar(sm, ax=ax, orientation=orientation, fraction=0.05, pad=0.02,
                        shrink=0.7, aspect=30)
    cbar.set_label(cbar_label)
    cbar.outline.set_linewidth(0.4)
    if (~present).any():
        patch = Patch(facecolor="#f0f0f0", edgecolor="#8c8c8c", hatch="/////", label=missing_label)
        where = ({"loc": "center left", "bbox_to_anchor": (1.03, 0.5)} if orientation == "horizontal"
                 else {"loc": "upper center", "bbox_to_anchor": (0.5, -0.03)})
        cbar.ax.legend(handles=[patch], frameon=False, handlelength=1.4, handleheight=1.0,
                       borderaxespad=0.0, **where)
    if flags_seen:
        ax._clusterstats_flags = set(getattr(ax, "_clusterstats_flags", set())) | flags_seen
        figures._figure_flag_legend(fig)

    gis = gdf.attrs.get("gisco", {})
    credit = GISCO_ATTRIBUTION[0].upper() + GISCO_ATTRIBUTION[1:]
    if gis:
        credit = f"Boundaries: GISCO NUTS {gis['nuts_year']}, {gis['scale']}; {GISCO_ATTRIBUTION}"
    note = source.strip()
    note = note if note.endswith(".") else note + "."
    figures.add_source_note(fig, f"{note} {credit}.")

    out_cols = ["NUTS_ID", "NAME_LATN", value] + (["_flags"] if flag else [])
    data = pd.DataFrame(merged[out_cols]).rename(columns={"NUTS_ID": key, "NAME_LATN": "name"})
    if flag:
        data = data.rename(columns={"_flags": flag})
    data = data.reset_index(drop=True)
    return Choropleth(data=data, colorbar=cbar, norm=norm, cmap=cmap)
