"""submitFulfillment and getFulfillmentResult: validation, task lifecycle, per-message outcomes, records."""

from __future__ import annotations

import pytest

from airflow_provider_lingxing.api import endpoints
from airflow_provider_lingxing.testing.simulator import LingxingSimulator, default_sellers
from tests.support.simulator_client import NA_MARKETPLACE, NA_SELLER, Client, order, submission

SUBMIT = endpoints.SUBMIT_FULFILLMENT.path
RESULTS = endpoints.GET_FULFILLMENT_RESULT.path
SELLERS = endpoints.SELLER_LIST.path
EU_SELLER, EU_MARKETPLACE = "A1SIMEU0000002", "A1PA6795UKMFR9"


def only(results: list[dict]) -> dict:
    assert len(results) == 1, results
    return results[0]


def test_the_seller_list_has_one_store_per_region_in_the_documented_shape(client: Client):
    sellers = client.ok(SELLERS)
    assert sellers == default_sellers()
    assert sorted(s["region"] for s in sellers) == ["EU", "NA"]
    documented = {"sid", "mid", "name", "seller_id", "account_name", "seller_account_id", "region", "country"}
    assert all(documented | {"has_ads_setting", "marketplace_id", "status"} == set(s) for s in sellers)


def test_configured_sellers_are_served():
    store = {"sid": 7, "seller_id": "A7", "region": "FE", "marketplace_id": "A39IBJ37TRP1C6", "status": 1}
    with LingxingSimulator(latency=0.0, sellers=[store]) as sim:
        assert Client(sim).ok(SELLERS) == [store]


def test_submit_answers_a_task_id_and_records_the_submission(client: Client, sim: LingxingSimulator):
    data = client.ok(SUBMIT, submission(order(11), order(12)))

    assert data == {"task_id": data["task_id"], "task_status": "pending", "failure_reason": None}
    assert data["task_id"].isdigit()
    assert sim.stats()["submissions"] == {NA_SELLER: [{"task_id": data["task_id"], "order_ids": ["11", "12"]}]}


def test_every_accepted_submit_creates_a_new_task_and_duplicates_are_reported(client: Client, sim):
    first, second = client.submit(submission(order(5))), client.submit(submission(order(5), order(6)))
    assert first != second
    stats = sim.stats()
    assert stats["tasks"]["created"] == 2
    assert stats["duplicate_order_ids"] == {NA_SELLER: ["5"]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (submission(region=""), "region站点区域不能为空"),
        (submission(region="US"), "region站点区域不合法: US, 可选值 NA, EU, FE"),
        ({k: v for k, v in submission().items() if k != "seller_id"}, "sellerId店铺id不能为空"),
        (submission(marketplace_id=" "), "marketplaceId市场id不能为空"),
        (submission(order_list=[]), "orderList订单列表不能为空"),
        (submission(order(1), order(0)), "orderList[1].id订单id必须为不超过20位的正整数"),
        (submission(order(-3)), "orderList[0].id订单id必须为不超过20位的正整数"),
        (submission(order(10**20)), "orderList[0].id订单id必须为不超过20位的正整数"),
        (submission(order(1, carrier_code="")), "orderList[0].carrierCode承运商code不能为空"),
        (submission(order(1, tracking_no=None)), "orderList[0].trackingNo跟踪号不能为空"),
        (submission(order(1, platform_order_no="")), "orderList[0].platformOrderNo平台订单号不能为空"),
        (submission(order(1, carrier_name="")), "orderList[0].carrierName承运商名称不能为空"),
        (submission(order(1, order_item=[])), "orderList[0].orderItem订单商品不能为空"),
        (
            submission(order(1, order_item=[{"order_item_no": "x", "quantity": 0}])),
            "orderList[0].orderItem[0].quantity数量必须为正整数",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_an_invalid_submission_is_102_with_the_documented_style_of_message(client: Client, sim, body, message):
    answer = client.call(SUBMIT, body).json()
    assert (answer["code"], answer["message"], answer["data"]) == (102, message, None)
    assert sim.stats()["tasks"]["created"] == 0


def test_the_largest_order_id_and_an_empty_shipping_service_are_accepted(client: Client):
    assert client.submit(submission(order(10**20 - 1, shipping_service="")))


def test_a_task_is_pending_then_complete_on_its_second_poll(client: Client, sim: LingxingSimulator):
    task_id = client.submit(submission(order(1), order(2)))

    pending = only(client.results([int(task_id)]))
    assert pending["status_code"] == "pending" and pending["failure"] is None and pending["result"] == []
    assert set(pending["processing_summary"].values()) == {""}

    done = only(client.results([task_id]))
    assert done["status_code"] == "Complete"
    assert done["processing_summary"] == {
        "messages_processed": "2",
        "messages_successful": "2",
        "messages_with_error": "0",
        "messages_with_warning": "0",
    }
    assert done["result"] == [] and done["failure"] is None
    assert only(client.results([task_id])) == done
    assert sim.stats()["tasks"]["complete"] == 1


def test_with_more_polls_a_task_goes_pending_in_process_complete():
    with LingxingSimulator(latency=0.0, complete_after_polls=4) as sim:
        client = Client(sim)
        task_id = client.submit(submission())
        statuses = [only(client.results([task_id]))["status_code"] for _ in range(5)]
        assert statuses == ["pending", "in_process", "in_process", "Complete", "Complete"]


def test_by_seconds_a_task_completes_with_age_not_polls():
    now = [1_700_000_000.0]
    with LingxingSimulator(latency=0.0, complete_after_seconds=60, clock=lambda: now[0]) as sim:
        client = Client(sim)
        task_id = client.submit(submission(), timestamp=str(int(now[0])))

        def status() -> str:
            return only(client.results([task_id], timestamp=str(int(now[0]))))["status_code"]

        assert [status(), status(), status()] == ["pending"] * 3
        now[0] += 30
        assert status() == "in_process"
        now[0] += 30
        assert status() == "Complete"


def test_outcomes_follow_the_tracking_numbers_and_the_summary_agrees(client: Client):
    orders = [order(1, "ERR-001"), order(2, "WARN-002"), order(3, "1Z-OK"), order(4, "err-lowercase")]
    task_id = client.submit(submission(*orders))
    client.results([task_id])
    done = only(client.results([task_id]))

    assert done["status_code"] == "Complete"
    by_message = {r["message_id"]: r for r in done["result"]}
    assert sorted(by_message) == ["1", "2", "4"]
    assert by_message["1"]["result_code"] == "Error" and by_message["1"]["result_message_code"] == "25"
    assert by_message["1"]["result_description"]
    assert by_message["2"]["result_code"] == "Warning"
    assert done["processing_summary"] == {
        "messages_processed": "4",
        "messages_successful": "2",
        "messages_with_error": "2",
        "messages_with_warning": "1",
    }
    assert done["ship_time"].isdigit() and len(done["ship_time"]) == 10


def test_a_fail_tracking_number_makes_the_task_fatal_with_a_reason(client: Client, sim: LingxingSimulator):
    task_id = client.submit(submission(order(1), order(2, "FAIL-2")))
    assert only(client.results([task_id]))["status_code"] == "pending"
    fatal = only(client.results([task_id]))

    assert fatal["status_code"] == "fatal"
    assert "2" in fatal["failure"]
    assert fatal["result"] == []
    assert sim.stats()["tasks"]["fatal"] == 1


def test_fail_task_ids_and_the_predicate_make_tasks_fatal(client: Client, sim: LingxingSimulator):
    sim.config.fail_task_predicate = lambda body: body["order_list"][0]["id"] == 9
    doomed, fine, chosen = (client.submit(submission(order(i))) for i in (9, 10, 11))
    sim.config.fail_task_ids.add(int(chosen))
    assert sim.task_status(doomed) == "pending"

    for _ in range(2):
        finals = {r["task_id"]: r for r in client.results([doomed, fine, chosen])}
    assert {task: r["status_code"] for task, r in finals.items()} == {
        doomed: "fatal",
        fine: "Complete",
        chosen: "fatal",
    }
    assert finals[doomed]["failure"] and finals[chosen]["failure"]
    assert sim.task_status(fine) == "Complete"


def test_results_answer_only_known_tasks_of_that_seller_in_the_documented_types(client: Client):
    ours = client.submit(submission())
    theirs = client.submit(submission(seller_id=EU_SELLER, region="EU", marketplace_id="A1PA6795UKMFR9"))

    answered = client.results([ours, 999_999_999, int(theirs), ours])
    assert [r["task_id"] for r in answered] == [ours]
    entry = answered[0]
    assert set(entry) == {"result", "task_id", "status_code", "ship_time", "processing_summary", "failure"}
    assert all(isinstance(value, str) for value in entry["processing_summary"].values())
    assert [r["task_id"] for r in client.results([theirs], seller_id=EU_SELLER)] == [theirs]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"seller_id": NA_SELLER, "task_id": []}, "taskId任务id数组不能为空"),
        ({"seller_id": NA_SELLER}, "taskId任务id数组不能为空"),
        ({"seller_id": NA_SELLER, "task_id": list(range(1, 12))}, "taskId任务id数组长度不能超过10"),
        ({"task_id": [1]}, "sellerId店铺id不能为空"),
        ({"seller_id": NA_SELLER, "task_id": [0]}, "taskId任务id必须为正整数"),
        ({"seller_id": NA_SELLER, "task_id": 1003083}, "taskId任务id必须为数组"),
    ],
    ids=["empty", "missing", "eleven", "no seller", "zero", "not a list"],
)
def test_invalid_result_queries_are_102(client: Client, body, message):
    answer = client.call(RESULTS, body).json()
    assert (answer["code"], answer["message"], answer["data"]) == (102, message, None)


def test_ten_task_ids_as_numbers_or_strings_are_accepted(client: Client):
    task_ids = [client.submit(submission(order(i))) for i in range(1, 11)]
    mixed = [int(t) if i % 2 else t for i, t in enumerate(task_ids)]
    assert [r["task_id"] for r in client.results(mixed)] == task_ids


def test_the_success_envelope_has_the_documented_fields(client: Client):
    answer = client.call(RESULTS, {"seller_id": NA_SELLER, "task_id": [1]}).json()
    assert set(answer) == {"code", "message", "request_id", "response_time", "data"}
    assert answer["code"] == 0 and answer["message"] == "操作成功" and answer["data"] == []


def test_orders_received_count_each_order_per_seller_marketplace_and_id(client: Client, sim: LingxingSimulator):
    client.submit(submission(order(5), order(6)))
    client.submit(submission(order(5)))
    client.submit(submission(order(5), seller_id=EU_SELLER, region="EU", marketplace_id=EU_MARKETPLACE))
    client.submit(submission(order(5), marketplace_id="A2EUQ1WTGCTBG2"))
    assert client.call(SUBMIT, submission(order(7, carrier_code=""))).json()["code"] == 102

    assert sim.stats()["orders_received"] == {
        NA_SELLER: {NA_MARKETPLACE: {"5": 2, "6": 1}, "A2EUQ1WTGCTBG2": {"5": 1}},
        EU_SELLER: {EU_MARKETPLACE: {"5": 1}},
    }
