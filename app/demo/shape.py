"""When the demo's visitors come: the past D days in the site's time zone, with a weekday
and hour-of-day rhythm, steady growth and a few days of campaign traffic."""

from __future__ import annotations

import random
from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from zoneinfo import ZoneInfo

# Relative traffic by local hour (0-23): quiet nights, a working-day plateau, an evening
# bump; and by weekday (Monday first): weekends are quieter.
HOUR_WEIGHTS = (
    0.2, 0.12, 0.08, 0.06, 0.06, 0.1, 0.25, 0.5, 0.8, 1.05, 1.2, 1.25,
    1.2, 1.15, 1.15, 1.1, 1.05, 1.0, 1.0, 1.1, 1.2, 1.05, 0.7, 0.4,
)  # fmt: skip
WEEKDAY_WEIGHTS = (1.0, 1.08, 1.06, 1.0, 0.9, 0.62, 0.55)
# The last day has this many times the first day's traffic (linear growth between).
GROWTH = 2.0
# The campaign: a newsletter and social posts lift these days' traffic by these factors,
# starting about two thirds into the period.
CAMPAIGN_LIFT = (3.2, 2.0, 1.4)
CAMPAIGN_AT = 0.65


@dataclass(frozen=True, slots=True)
class TrafficShape:
    """The local days of the period (oldest first), each one's share of the traffic, and
    the campaign's lift per day (1.0 outside it)."""

    zone: ZoneInfo
    now: datetime
    days: tuple[date, ...]
    weights: tuple[float, ...]
    lifts: tuple[float, ...]

    @classmethod
    def of(cls, timezone: str, days: int, now: datetime) -> TrafficShape:
        """The ``days`` local days ending with today (so far) in ``timezone``."""
        zone = ZoneInfo(timezone)
        today = now.astimezone(zone).date()
        dates = tuple(today - timedelta(days=days - 1 - index) for index in range(days))
        start = min(int(days * CAMPAIGN_AT), max(days - len(CAMPAIGN_LIFT), 0))
        lifts = [1.0] * days
        for offset, lift in enumerate(CAMPAIGN_LIFT):
            if start + offset < days:
                lifts[start + offset] = lift
        weights = []
        for index, day in enumerate(dates):
            growth = 1.0 + (GROWTH - 1.0) * index / max(days - 1, 1)
            weights.append(growth * WEEKDAY_WEIGHTS[day.weekday()] * lifts[index])
        # Today counts only the part of its rhythm that has passed.
        hour = now.astimezone(zone).hour
        weights[-1] *= sum(HOUR_WEIGHTS[: hour + 1]) / sum(HOUR_WEIGHTS)
        return cls(zone, now, dates, tuple(weights), tuple(lifts))

    def cumulative_targets(self, events: int) -> list[int]:
        """How many events should have been sent by the end of each day."""
        total = sum(self.weights)
        return [round(events * running / total) for running in accumulate(self.weights)]

    def day_start(self, index: int) -> datetime:
        """The start of local day ``index`` as a UTC time (the end of the period after the
        last day)."""
        if index >= len(self.days):
            return self.now
        day = self.days[index]
        return datetime(day.year, day.month, day.day, tzinfo=self.zone).astimezone(UTC)

    def moment(self, rng: random.Random, index: int) -> datetime:
        """A UTC time on local day ``index``, its hour drawn from the daily rhythm; on the
        last day, no later than now."""
        day = self.days[index]
        hours = _HOUR_CUMULATIVE
        if index == len(self.days) - 1:
            hours = hours[: self.now.astimezone(self.zone).hour + 1]
        hour = bisect_left(hours, rng.random() * hours[-1])
        local = datetime(day.year, day.month, day.day, hour, tzinfo=self.zone)
        moment = (local + timedelta(seconds=rng.random() * 3600)).astimezone(UTC)
        if moment > self.now:
            moment = max(self.now - timedelta(seconds=rng.random() * 600), self.day_start(index))
        return moment


_HOUR_CUMULATIVE = list(accumulate(HOUR_WEIGHTS))
