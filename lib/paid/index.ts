/** The paid layer: SeedPay sellers and buyers on top of the torrent client. */
export { PaidSeller, type PaidSellerOptions, type PaidSellerEvents, type SellerTotals, type SellerPeerInfo } from './seller.js';
export { PaidBuyer, type PaidBuyerOptions, type PaidBuyerEvents, type PaymentMade, type BuyerPeerInfo } from './buyer.js';
