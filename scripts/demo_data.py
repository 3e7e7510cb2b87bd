"""The demo data, from the cases in DOMAIN.md: Aarhus Kommune's "Kommune forfra" plan (case A)
and Silkeborg Kommune's strategy tree (case C). Used by `make demo` and by the tests."""

from __future__ import annotations

from typing import Any

PLAN = {
    "title": "Kommune forfra – Aarhus gentænker velfærden",
    "owner": "Borgmesterens Afdeling",
    "sender": "Aarhus Kommune",
}
GOALS = [
    {
        "description": "Velfærdens innovationsdag samler 300 deltagere",
        "metric": "participants",  # counted at the door, reported
        "target": 300,
        "unit": "participants",
        "deadline": "2016-01-20",
    },
    {
        "description": "Nyhedsbrevet når alle ledere og medarbejdere i de seks magistratsafdelinger",
        "metric": "newsletter recipients",
        "target": 28000,
        "unit": "recipients",
        "deadline": "2016-12-31",
    },
    {
        "description": "Nyhedsbrevet sendes til pilotgruppen af medarbejdere (counted by metrics)",
        "metric": "deliveries_sent",
        "target": 3,
        "unit": "e-mails",
        "deadline": "2015-12-31",
    },
]
PARTNERS = {
    "mm": ("Mandag Morgen", "think-tank"),
    "kl": ("KL", "municipal association"),
    "fag": ("Fagforbund", "union"),
    "au": ("Aarhus Universitet", "university"),
    "via": ("VIA University College", "university college"),
    "a2017": ("Aarhus 2017", "European Capital of Culture"),
}
# owner, partners and recurrence of the activities below, by title
ACTIVITY_DETAILS: dict[str, dict[str, Any]] = {
    "Fælles kronik med Mandag Morgen": {"owner": "Borgmesteren", "partners": ["mm"]},
    "Nyhedsbrev: Rethink velfærd": {
        "owner": "Koncernkommunikation",
        "recurrence": "FREQ=MONTHLY;COUNT=6",
    },
    "Velfærdens innovationsdag": {"owner": "Mandag Morgen", "partners": ["mm", "kl"]},
    "Rethink public welfare-konferencen": {
        "owner": "Borgmesterens Afdeling",
        "partners": ["kl", "fag", "au", "via", "a2017"],
    },
}
AUDIENCES = {
    "citizens": ("Borgere i Aarhus", "citizens", "Forståeligt og brugbart; klart sprog."),
    "directors": (
        "Kommunale direktører",
        "organisations",
        "Fagligt og politisk; dilemmaer frem for svar.",
    ),
    "staff": (
        "Medarbejdere og ledere (ca. 28.000)",
        "staff",
        "Fagligt og brugbart; via medarbejderportalen.",
    ),
}
MESSAGES = {
    "citizens": (
        "Aarhus gentænker velfærden",
        "Vi inviterer alle aarhusianere til at tænke velfærden forfra. Hvad er vigtigt for dig?",
    ),
    "directors": (
        "Velfærdens dilemmaer",
        "Hvordan skaber vi mere velfærd sammen med borgerne, når ressourcerne er knappe?",
    ),
    "staff": (
        "Rethink velfærd",
        "Medbestemmelse, innovation og relationel koordinering: sådan bidrager du.",
    ),
}
CHANNELS = {
    "op_ed": ("op_ed", "Kronik i landsdækkende dagblade"),
    "meeting": ("meeting", "Temadrøftelse i Byrådet"),
    "conference": ("conference", "Konferencer og temadage"),
    "newsletter": ("newsletter", "Nyhedsbrev til medarbejdere"),
}
# (title, kind, starts_at, audience, channel, event details)
ACTIVITIES = [
    (
        "Fælles kronik med Mandag Morgen",
        "communication",
        "2015-09-15T06:00:00+02:00",
        "citizens",
        "op_ed",
        None,
    ),
    (
        "Byrådets temadrøftelse med refleksionspanel",
        "event",
        "2015-10-28T16:00:00+01:00",
        "citizens",
        "meeting",
        {"format": "dialogue_meeting", "capacity": 80, "venue": "Aarhus Rådhus"},
    ),
    (
        "Nyhedsbrev: Rethink velfærd",
        "communication",
        "2015-11-02T08:00:00+01:00",
        "staff",
        "newsletter",
        None,
    ),
    (
        "Velfærdens innovationsdag",
        "event",
        "2016-01-20T09:00:00+01:00",
        "directors",
        "conference",
        {"format": "theme_day", "capacity": 300, "venue": "Mandag Morgen / partnere"},
    ),
    (
        "Rundbordssamtale for kommunaldirektører",
        "event",
        "2016-01-20T13:00:00+01:00",
        "directors",
        "conference",
        {"format": "round_table", "capacity": 20},
    ),
    (
        "Folkemødet: debat og middagsselskab",
        "event",
        "2016-06-16T12:00:00+02:00",
        "citizens",
        "conference",
        {"format": "festival_debate", "capacity": 150, "venue": "Allinge, Bornholm"},
    ),
    (
        "Rethink public welfare-konferencen",
        "event",
        "2017-05-10T09:00:00+02:00",
        "directors",
        "conference",
        {"format": "conference", "capacity": 500, "venue": "Aarhus 2017"},
    ),
]
STAFF_CONTACTS = [
    ("Mette Jensen", "mette.jensen@example.org"),
    ("Lars Nielsen", "lars.nielsen@example.org"),
    ("Sofie Hansen", "sofie.hansen@example.org"),
]


# Silkeborg Kommune's strategy plan (DOMAIN.md, case C; the tree as in the source document).
SILKEBORG = {
    "name": "Strategiplan 2013–2014",
    "organisation": "Silkeborg Kommune",
    "vision": "Silkeborg Kommune er anerkendt som en synlig, kompetent og innovativ kommune.",
    "values": ["Dialog", "Dynamik", "Kvalitet", "Sammenhæng"],
    "period_start": "2013-01-01",
    "period_end": "2014-12-31",
    "focus_areas": [
        {
            "name": "Fremme en innovativ kultur",
            "children": [
                {"name": "Innovativt lederskab"},
                {"name": "Samarbejdsdrevet innovation"},
                {"name": "Videndeling"},
            ],
        },
        {
            "name": "Sikre økonomisk robusthed og effektiv drift",
            "children": [
                {"name": "God økonomiforståelse"},
                {"name": "Budgetbalance"},
                {"name": "Robusthed"},
            ],
        },
        {
            "name": "Øge digitalisering og styrke anvendelse af velfærdsteknologi",
            "children": [
                {"name": "Strategisk fokus"},
                {"name": "Udviklings- og videndelingsinitiativer"},
            ],
        },
        {
            "name": "Fremme aktivt medborgerskab",
            "children": [
                {"name": "Udvikle samarbejdet mellem frivillige og fagpersoner"},
                {"name": "Synliggøre og anerkende værdien af aktivt medborgerskab"},
            ],
        },
        {
            "name": "Strategisk kommunikation",
            "description": "Mere på forkant, mere proaktiv og mere dagsordensættende.",
            "children": [
                {
                    "name": "Kommunikations-Mestring",
                    "description": "Kompetenceudvikling i leder- og medarbejderkommunikation og en "
                    "værktøjskasse til kommunikation.",
                    "children": [
                        {"name": "Lederkommunikation"},
                        {"name": "Medarbejderkommunikation"},
                        {"name": "Værktøjer"},
                    ],
                },
                {
                    "name": "Borgerdialog og borgerinddragelse",
                    "description": "Kommunikation af borgernes muligheder for indflydelse, "
                    "kommunikationskoncepter for borgerdialog og kulturforståelse.",
                    "children": [
                        {"name": "Kommunikation af borgernes mulighed for indflydelse"},
                        {
                            "name": "Kommunikationskoncepter i forbindelse med borgerdialog og borgerinddragelse"
                        },
                        {"name": "Kulturforståelse fra myndighed til serviceorganisation"},
                    ],
                },
                {
                    "name": "Organisatorisk branding",
                    "description": "Ekstern kommunikation, intern kommunikation og employer branding.",
                    "children": [
                        {"name": "Grundlag"},
                        {"name": "Ekstern kommunikation"},
                        {"name": "Intern kommunikation"},
                        {"name": "Employer Branding"},
                    ],
                },
            ],
        },
    ],
}
# The yearly action plan for the strategic-communication tracks, as (sub-track, initiative,
# success criterion); the 2014 revision is illustrative: one initiative dropped, one sharpened,
# one added after the 2013 measurements.
ACTION_PLAN_2013 = [
    ("Lederkommunikation", "Kursus i lederkommunikation", "Alle chefer har deltaget"),
    ("Værktøjer", "Værktøjskasse til kommunikation på intranettet", "Brugt af 50 % af enhederne"),
    (
        "Kommunikationskoncepter i forbindelse med borgerdialog og borgerinddragelse",
        "Koncept for dialogmøder med borgere",
        "Brugt i tre projekter",
    ),
    ("Intern kommunikation", "Tema- og gå-hjem-møder om innovation", "Fire møder om året"),
    ("Ekstern kommunikation", "Digital Post og NemSMS som første valg", "Klar før 2015"),
]
ACTION_PLAN_2014 = [
    ("Lederkommunikation", "Kursus i lederkommunikation", "Alle nye chefer inden for et halvt år"),
    ("Værktøjer", "Værktøjskasse til kommunikation på intranettet", "Brugt af 50 % af enhederne"),
    (
        "Kommunikationskoncepter i forbindelse med borgerdialog og borgerinddragelse",
        "Koncept for dialogmøder med borgere",
        "Brugt i tre projekter",
    ),
    ("Ekstern kommunikation", "Digital Post og NemSMS som første valg", "Klar før 2015"),
    ("Employer Branding", "Kampagne: arbejdspladsen Silkeborg Kommune", "20 % flere ansøgere"),
]


def action_plan(strategy: dict, year: int, rows: list[tuple[str, str, str]], note: str) -> dict:
    """An action-plan revision naming the strategy's nodes by name."""
    ids = {}
    stack = list(strategy["focus_areas"])
    while stack:
        node = stack.pop()
        ids[node["name"]] = node["id"]
        stack += node["children"]
    return {
        "year": year,
        "note": note,
        "items": [
            {"track_id": ids[track], "initiative": initiative, "success_criterion": criterion}
            for track, initiative, criterion in rows
        ],
    }


# A Silkeborg plan on the citizen-dialogue track: dialogue meetings with citizens, voluntary
# associations and unions about the volunteering strategy (from the strategy plan).
SILKEBORG_PLAN = {
    "title": "Dialogmøder om frivilligstrategien",
    "owner": "Koncernudvikling",
    "sender": "Silkeborg Kommune",
    "period_start": "2013-09-01",
    "period_end": "2013-11-30",
}
SILKEBORG_TRACK = "Kommunikationskoncepter i forbindelse med borgerdialog og borgerinddragelse"


# --- events (make demo's registration part) -------------------------------------------------

# Case E: the labour-market region's yearly employment conference, about 300 participants
# from job centres, LBR, unemployment funds. Set up directly by its organiser, for next
# year's edition (a past event takes no registrations).
EMPLOYMENT_CONFERENCE = {
    "title": "Beskæftigelseskonferencen – Tendens på arbejdsmarkedet",
    "description": "Det Regionale Beskæftigelsesråd og Beskæftigelsesregion Midtjylland "
    "samler jobcentre, LBR, a-kasser og uddannelsesinstitutioner om udviklingen på "
    "arbejdsmarkedet i Midtjylland.",
    "format": "conference",
    "capacity": 300,
    "venue": "Konferencecenter, Aarhus",
    "address": "Aarhus C",
    "accessibility": "Niveaufri adgang, teleslynge i salen, handicaptoilet.",
}
JOB_CENTRES = ["Aarhus", "Randers", "Herning", "Silkeborg", "Horsens", "Viborg", "Skive"]

# Case A: a round table for selected municipal directors on the paper's dilemmas, 20 seats,
# with more interest than seats — its waitlist moves when someone cancels.
ROUND_TABLE = {
    "title": "Rundbordssamtale: Velfærdens dilemmaer",
    "description": "Udvalgte kommunaldirektører drøfter dilemmaerne i debatoplægget "
    "»Kommune forfra – Aarhus gentænker velfærden«.",
    "format": "round_table",
    "capacity": 20,
    "venue": "Aarhus Rådhus",
    "address": "Rådhuspladsen 2, 8000 Aarhus C",
}

# Case A: Velfærdens innovationsdag (January 2016), organised by Mandag Morgen with partners:
# a round table for selected municipal directors and workshops on the paper's dilemmas.
# (hours after the start, length in hours, the session)
INNOVATION_DAY_PROGRAMME: list[tuple[float, float, dict[str, Any]]] = [
    (
        0,
        1,
        {
            "title": "Kommune forfra – Aarhus gentænker velfærden",
            "kind": "plenary",
            "room": "Store sal",
            "people": [
                {"name": "Borgmesterens Afdeling, Aarhus Kommune", "role": "speaker"},
                {"name": "Mandag Morgen", "role": "moderator"},
            ],
        },
    ),
    (
        1.5,
        1.5,
        {
            "title": "Rundbordssamtale for udvalgte kommunaldirektører",
            "kind": "panel",
            "room": "Mødelokale 1",
            "capacity": 20,
        },
    ),
    (
        1.5,
        1.5,
        {
            "title": "Workshop: Velfærdens dilemmaer",
            "kind": "workshop",
            "room": "Lokale 2",
            "capacity": 40,
            "description": "Dilemmaerne i debatoplægget, drøftet med fagpersoner og borgere.",
        },
    ),
]


def tendens_readers(count: int = 1_000) -> bytes:
    """Tendens' readers (DOMAIN.md, case E: almost 1,000, a third at job centres) as the
    region would export them from Excel — semicolons, Danish headers — with the few broken
    rows such a list always has."""
    first = ["Mette", "Lars", "Sofie", "Jens", "Anne", "Peter", "Hanne", "Ole", "Karen", "Søren"]
    last = ["Jensen", "Nielsen", "Hansen", "Pedersen", "Andersen", "Møller", "Kristensen"]
    places = ["jobcenter-aarhus.dk", "jobcenter-silkeborg.dk", "jobcenter-herning.dk"]
    others = ["a-kasse.dk", "viden.dk", "lbr-midt.dk", "virksomhed.dk", "uddannelse.dk", "ams.dk"]
    lines = ["Navn;E-mail;Telefon;Sprog;Samtykke;Sektor"]
    for i in range(count):
        name = f"{first[i % len(first)]} {last[i // len(first) % len(last)]}"
        domain = places[i % 3] if i % 3 == 0 else others[i % len(others)]
        language = "en" if i % 25 == 0 else "da"
        sector = "jobcenter" if domain in places else domain.split(".")[0]
        lines.append(f"{name};laeser{i:04d}@{domain};;{language};ja;{sector}")
    lines[101] = "Ole Bak;ole.bak(at)jobcenter-viborg.dk;;da;ja;jobcenter"  # no @-sign
    lines[202] = ";kim@jobcenter-skive.dk;;da;ja;jobcenter"  # no name
    lines[303] = "Lise Holm;lise@jobcenter-randers.dk;ring efter 10;da;ja;jobcenter"  # no phone
    lines[404] = "Karen Dam;karen@jobcenter-horsens.dk;;de;måske;jobcenter"  # not da/en, ja/nej
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


TENDENS_PLAN = {
    "title": "Tendens – nyhedsbrev om arbejdsmarkedet",
    "owner": "Kommunikation",
    "sender": "Beskæftigelsesregion Midtjylland",
}
TENDENS_GOAL = {
    "description": "Tendens når næsten 1.000 modtagere seks gange om året",
    "metric": "deliveries_sent",
    "target": 1000,
    "unit": "recipients",
}
TENDENS_MESSAGE = (
    "Tendens: ledigheden falder i Midtjylland",
    "Ledigheden i Midtjylland er faldet for tredje kvartal i træk. Læs om udviklingen i "
    "jeres område, og om hvad jobcentrene gør for at få langtidsledige i arbejde.",
)

# Case E: the yearly employment conference (about 300 participants) evaluated by a survey;
# the region's 2010 user survey found 74 % satisfied and 3 % dissatisfied.
CONFERENCE_PLAN = {
    "title": "Beskæftigelseskonferencen – evaluering",
    "owner": "Kommunikation",
    "sender": "Det Regionale Beskæftigelsesråd Midtjylland",
}
CONFERENCE_GOALS = [
    {
        "description": "Mindst 70 % af deltagerne er tilfredse med konferencen",
        "metric": "satisfaction",
        "target": 70,
        "unit": "%",
    },
    {
        "description": "250 deltagere møder op",
        "metric": "attendees",
        "target": 250,
        "unit": "deltagere",
    },
]
CONFERENCE_SURVEY_QUESTIONS = [
    {
        "kind": "rating",
        "text": "Hvor tilfreds var du med konferencen alt i alt?",
        "text_en": "How satisfied were you with the conference overall?",
        "required": True,
        "satisfaction": True,
    },
    {
        "kind": "single_choice",
        "section": "Indhold",
        "text": "Hvad fik du mest ud af?",
        "text_en": "What did you get most out of?",
        "options": [
            {"label": "Oplæggene om tendenser", "label_en": "The talks on trends"},
            {"label": "Netværket med andre jobcentre", "label_en": "Meeting other job centres"},
            {"label": "Workshoppene", "label_en": "The workshops"},
        ],
    },
    {
        "kind": "nps",
        "text": "Hvor sandsynligt er det, at du vil anbefale konferencen til en kollega?",
    },
    {"kind": "text", "text": "Hvad kan vi gøre bedre næste år?"},
]
# 200 answers: 74 % satisfied (4–5), 3 % dissatisfied (1–2), as the region measured
CONFERENCE_RATINGS = [5] * 60 + [4] * 88 + [3] * 46 + [2] * 4 + [1] * 2
