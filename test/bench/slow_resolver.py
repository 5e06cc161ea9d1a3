"""A DNS server on a loopback port that answers every query after a fixed delay (1 ms by
default), the way a nearby caching resolver does, so that servers whose plugins look things up
are compared against the same resolver. Answers come from a table given at start; any other
name is NXDOMAIN; negative answers carry an SOA. Answers are built once (with dnspython), so serving one costs a dictionary
lookup: the resolver's own CPU stays small beside the servers'.

    with SlowResolver({("bl.test.", "A"): []...}, delay_ms=1) as port: ...
"""
import asyncio
import threading

import dns.exception
import dns.flags
import dns.message
import dns.rdataclass
import dns.rcode
import dns.rdatatype
import dns.rrset


class SlowResolver:
    """records: {(name, type name): [rdata text, ...]}; an empty list is NODATA (the name
    exists). `queries` counts what was asked."""

    def __init__(self, records, delay_ms=1.0, ttl=300):
        self.delay = delay_ms / 1000.0
        self.ttl = ttl
        self.queries = 0
        self.answers = {}
        names = set()
        for (name, rtype), values in records.items():
            name = name.lower().rstrip(".") + "."
            names.add(name)
            rrset = None
            if values:
                rrset = dns.rrset.from_text_list(name, ttl, dns.rdataclass.IN,
                                                 dns.rdatatype.from_text(rtype), values)
            self.answers[(name, dns.rdatatype.from_text(rtype))] = rrset
        self.names = names
        self.port = None
        self._loop = None
        self._thread = None

    def _respond(self, packet):
        try:
            query = dns.message.from_wire(packet)
        except dns.exception.DNSException:
            return None
        if len(query.question) != 1:
            return None
        name = query.question[0].name.to_text().lower()
        qtype = query.question[0].rdtype
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        key = (name, qtype)
        if key in self.answers and self.answers[key] is not None:
            response.answer.append(self.answers[key])
            return response.to_wire()
        if name not in self.names:
            response.set_rcode(dns.rcode.NXDOMAIN)
        # A negative answer carries its zone's SOA, as every authoritative server sends it
        # (RFC 2308): that is what lets a cache keep it.
        zone = name.split(".", 1)[1] if name.count(".") > 1 else name
        response.authority.append(dns.rrset.from_text(
            zone, self.ttl, dns.rdataclass.IN, dns.rdatatype.SOA,
            "ns.%s hostmaster.%s 1 3600 600 86400 %d" % (zone, zone, self.ttl)))
        return response.to_wire()

    def __enter__(self):
        ready = threading.Event()
        resolver = self
        cache = {}

        class Protocol(asyncio.DatagramProtocol):
            def connection_made(self, transport):
                self.transport = transport

            def datagram_received(self, data, addr):
                resolver.queries += 1
                # The answer without its id is the same for every query of one question.
                key = data[2:]
                wire = cache.get(key)
                if wire is None:
                    full = resolver._respond(data)
                    if full is None:
                        return
                    if len(cache) >= 10000:
                        cache.clear()  # bounded; a bench asks a few hundred questions
                    wire = cache[key] = full[2:]
                resolver._loop.call_later(resolver.delay, self.transport.sendto,
                                          data[:2] + wire, addr)

        def run():
            self._loop = asyncio.new_event_loop()
            transport, _ = self._loop.run_until_complete(
                self._loop.create_datagram_endpoint(Protocol, local_addr=("127.0.0.1", 0)))
            self.port = transport.get_extra_info("sockname")[1]
            self._transport = transport
            ready.set()
            self._loop.run_forever()
            transport.close()
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
