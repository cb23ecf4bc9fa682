"""Method 1 end to end: counters and variables (or a what-if load) in, figures and advice out."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from interlock.advisor import advice as adv
from interlock.advisor.figures import Counters, Load, Variables, load_from
from interlock.advisor.memory import MemoryCheck, memory_check
from interlock.advisor.method1 import Method1Result, Policy, method1


@dataclass(frozen=True, slots=True)
class Analysis:
    result: Method1Result
    counters: Counters | None
    variables: Variables | None
    rates: adv.AbortRates | None
    memory: MemoryCheck | None
    advice: tuple[adv.Advice, ...]
    samples: int  # how many Connections readings the peak came from (0: none)
    load: Load  # the model's inputs (for the plot)

    @property
    def mycnf(self) -> list[str]:
        return adv.mycnf_lines(list(self.advice))


def analyze_load(
    load: Load,
    policy: Policy = Policy.STRICT,
    counters: Counters | None = None,
    variables: Variables | None = None,
    machine_memory: int | None = None,
    samples: int = 0,
) -> Analysis:
    result = method1(load, policy)
    rates = adv.abort_rates(counters) if counters is not None else None
    memory = memory_check(variables, machine_memory) if variables is not None else None
    items = adv.wait_timeout_advice(result, variables)
    items += adv.limit_advice(counters, variables)
    items += adv.peak_advice(result)
    if rates is not None:
        items += adv.abort_advice(rates, variables)
    items += adv.interactive_advice(result, variables)
    if memory is not None:
        items += adv.memory_advice(memory)
    return Analysis(
        result, counters, variables, rates, memory, tuple(items), samples, load
    )


def analyze(
    counters: Counters,
    variables: Variables,
    peak: Fraction | None,
    policy: Policy = Policy.STRICT,
    machine_memory: int | None = None,
    samples: int = 0,
) -> Analysis:
    load = load_from(counters, variables, peak)
    return analyze_load(load, policy, counters, variables, machine_memory, samples)
