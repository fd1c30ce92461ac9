"""Documents the report tests render: a shift handover in Indonesian, and long ones."""

from __future__ import annotations

from datetime import UTC, datetime

from reports import Document, Fact, Letterhead, Section, Signature, Table

CREATED_AT = datetime(2025, 6, 2, 0, 5, tzinfo=UTC)
SHA256 = "9f2c4e6a" * 8
LOG_LINE = "Log akses #4127"
LETTERHEAD = Letterhead(
    room_name="Ruang Kendali CCTV Kota Pantau",
    subtitle="Dinas Komunikasi dan Informatika · Jl. Merdeka No. 1 · Telp. (021) 555-0100",
)


def handover(
    *,
    watermark: str | None = None,
    language: str = "id",
    rows: int = 4,
    paragraph: str | None = None,
) -> Document:
    """A shift handover ("Berita Acara Serah Terima Shift") with `rows` camera rows."""
    cameras = tuple(
        (f"gerbang-utara-{n:03d}", "Daring", "≥ 25 fps", f"Pemeriksaan rutin kamera nomor {n} – jelas")
        for n in range(1, rows + 1)
    )
    events = Table(
        columns=("Waktu (WIB)", "Kamera", "Kejadian"),
        rows=(
            ("07:12", "gerbang-utara", "Kamera gerbang-utara terputus 30 detik"),
            ("09:40", "parkir-barat", "Gerakan terdeteksi · petugas patroli dikirim, situasi aman"),
        ),
        widths=(1, 1.4, 4),
    )
    return Document(
        title="Berita Acara Serah Terima Shift",
        subtitle="Nomor: BA/CCTV/2025/06/0042",
        created_at=CREATED_AT,
        facts=(
            Fact("Shift", "Pagi (07.00–15.00 WIB)"),
            Fact("Operator", "Budi Santoso"),
            Fact("Periode", "Senin, 2 Juni 2025 07.00 – 15.00 WIB"),
            Fact("Penerima", "Siti Aminah (shift siang)"),
        ),
        sections=(
            Section(
                heading="1. Ringkasan",
                paragraphs=(
                    paragraph
                    or "Selama shift pagi seluruh kamera dipantau sesuai SOP. Satu gangguan koneksi "
                    "tercatat dan telah pulih tanpa kehilangan rekaman. Café di sudut alun-alun "
                    "tetap terpantau dengan jelas.",
                ),
                tables=(events,),
            ),
            Section(
                heading="2. Pemeriksaan Kamera",
                tables=(
                    Table(
                        columns=("Kamera", "Status", "Kualitas", "Catatan"),
                        rows=cameras,
                        widths=(1.3, 0.8, 0.8, 3),
                    ),
                ),
            ),
            Section(
                heading="3. Patroli",
                tables=(Table(columns=("Waktu", "Rute", "Petugas"), rows=(), empty="Tidak ada patroli tercatat"),),
            ),
        ),
        signatures=(
            Signature("Yang menyerahkan", "Budi Santoso", "2 Juni 2025, 15.02 WIB"),
            Signature("Yang menerima", "Siti Aminah", "2 Juni 2025, 15.05 WIB", note="Diterima dengan catatan"),
        ),
        footer=(f"SHA-256 {SHA256}", LOG_LINE),
        watermark=watermark,
        language=language,
    )
