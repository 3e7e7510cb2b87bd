"""Closed vocabularies shared by several services' events."""

from enum import StrEnum


class ChannelKind(StrEnum):
    NEWSLETTER = "newsletter"
    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"  # posted to systems subscribed to an audience (an intranet, a CMS)
    DIGITAL_POST = "digital_post"
    WEB = "web"
    INTRANET = "intranet"
    SOCIAL_MEDIA = "social_media"
    PRESS_RELEASE = "press_release"
    OP_ED = "op_ed"
    MEETING = "meeting"
    CONFERENCE = "conference"
    LETTER = "letter"


# characters a text message may carry: four concatenated parts of GSM text (ten of other
# Unicode); planning refuses an SMS activity whose message is longer, notifications a send
MAX_SMS = 612


class ActivityKind(StrEnum):
    EVENT = "event"  # becomes an event in the events service
    COMMUNICATION = "communication"  # becomes deliveries in the notifications service
    OTHER = "other"  # tracked in planning only


class EventFormat(StrEnum):
    CONFERENCE = "conference"
    THEME_DAY = "theme_day"
    ROUND_TABLE = "round_table"
    WORKSHOP = "workshop"
    FESTIVAL_DEBATE = "festival_debate"
    HAPPENING = "happening"
    DINNER = "dinner"
    UNCONFERENCE = "unconference"
    DIALOGUE_MEETING = "dialogue_meeting"
